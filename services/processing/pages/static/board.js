// The manager's board: the open SLA alerts from notify, acknowledged from here, and reloaded when
// notify's live inbox feed says a new one arrived. Notify takes a bearer token, which this page asks
// of processing (same origin, CSRF header) and keeps in memory only. No HTML is built from data:
// every text goes in through textContent.
(function () {
  "use strict";
  const list = document.getElementById("alerts");
  const state = document.getElementById("alerts-state");
  if (!list || !state) {
    return;
  }
  const words = list.dataset;
  const notify = words.notify;
  const kinds = JSON.parse(words.kinds || "{}");
  let token = null;
  let expires = 0;

  function say(text) {
    state.textContent = text;
  }

  async function bearer() {
    if (token && Date.now() < expires - 30000) {
      return token;
    }
    const response = await fetch("/board/token", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": words.csrf },
    });
    if (!response.ok) {
      throw new Error("token " + response.status);
    }
    const body = await response.json();
    token = body.access_token;
    expires = Date.parse(body.expires_at);
    return token;
  }

  async function call(path, method) {
    return fetch(notify + path, {
      method: method || "GET",
      headers: { Authorization: "Bearer " + (await bearer()) },
    });
  }

  function when(iso) {
    return new Date(iso).toLocaleString(words.lang === "en" ? "en-GB" : "vi-VN", {
      timeZone: "Asia/Ho_Chi_Minh",
      dateStyle: "short",
      timeStyle: "short",
    });
  }

  function item(alert) {
    const li = document.createElement("li");
    li.dataset.alert = alert.id;
    const title = document.createElement("h3");
    const badge = document.createElement("span");
    badge.className = "badge " + (alert.kind === "near_due" ? "warn" : "bad");
    badge.textContent = kinds[alert.kind] || alert.kind;
    const link = document.createElement("a");
    link.className = "code";
    link.href = "/dossiers/" + encodeURIComponent(alert.dossier_code);
    link.textContent = alert.dossier_code;
    title.append(badge, " ", link);
    const facts = document.createElement("p");
    const parts = [alert.procedure_name];
    if (alert.step_name) {
      parts.push(alert.step_name);
    }
    parts.push(alert.unit_code, words.due + " " + when(alert.due_at));
    if (alert.rung > 0) {
      parts.push(words.escalated);
    }
    facts.textContent = parts.join(" · ");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = words.ack;
    button.setAttribute("aria-label", words.ack + " " + alert.dossier_code);
    button.addEventListener("click", function () {
      acknowledge(alert.id, button);
    });
    li.append(title, facts, button);
    return li;
  }

  async function load() {
    try {
      const response = await call("/api/v1/alerts?status=open&limit=100");
      if (!response.ok) {
        throw new Error("alerts " + response.status);
      }
      const alerts = await response.json();
      list.replaceChildren(...alerts.map(item));
      say(alerts.length ? words.count.replace("{n}", String(alerts.length)) : words.empty);
    } catch (error) {
      say(words.error);
    }
  }

  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      const response = await call("/api/v1/alerts/" + encodeURIComponent(id) + "/ack", "POST");
      if (!response.ok) {
        throw new Error("ack " + response.status);
      }
      say(words.acknowledged);
      await load();
    } catch (error) {
      button.disabled = false;
      say(words.error);
    }
  }

  function handle(block) {
    let name = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data += line.slice(5).trim();
      }
    }
    if (name !== "notification") {
      return;
    }
    try {
      const notification = JSON.parse(data);
      if (String(notification.event_type || "").startsWith("alert.")) {
        load();
      }
    } catch (error) {
      // Not a notification this page reads.
    }
  }

  async function listen() {
    for (;;) {
      try {
        const response = await call("/api/v1/inbox/stream");
        if (!response.ok || !response.body) {
          throw new Error("stream " + response.status);
        }
        list.dataset.live = "true";
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) {
            break;
          }
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r/g, "");
          let cut = buffer.indexOf("\n\n");
          while (cut >= 0) {
            handle(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            cut = buffer.indexOf("\n\n");
          }
        }
      } catch (error) {
        list.dataset.live = "false";
      }
      // The stream ends when its token expires: open it again with a fresh one.
      await new Promise(function (resolve) {
        setTimeout(resolve, 3000);
      });
      await load();
    }
  }

  load().then(listen);
})();
