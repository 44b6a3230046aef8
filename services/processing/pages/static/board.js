// The manager's board: the open SLA alerts from notify, acknowledged from here, and kept current by
// notify's live feed of the alerts in the manager's scope (each alert stored, acknowledged or
// resolved, whoever it is addressed to). Notify takes a bearer token, which this page asks of
// processing (same origin, CSRF header) and keeps in memory only: in a header, never in a URL. No
// HTML is built from data: every text goes in through textContent.
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
    if (alert.level === "dossier") {
      parts.push(words.whole);
    } else if (alert.step_name) {
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

  function counted() {
    const n = list.children.length;
    say(n ? words.count.replace("{n}", String(n)) : words.empty);
  }

  function card(id) {
    return Array.from(list.children).find(function (li) {
      return li.dataset.alert === id;
    });
  }

  // An alert as the live feed tells it: an open one shown (first when new), any other taken away.
  function show(alert) {
    const shown = card(alert.id);
    if (alert.status === "open") {
      if (shown) {
        shown.replaceWith(item(alert));
      } else {
        list.prepend(item(alert));
      }
    } else if (shown) {
      shown.remove();
    } else {
      return;
    }
    counted();
  }

  // The counts per unit, read again (as processing renders them) a moment after alerts arrive, so
  // that a burst of alerts reads them once.
  const counts = document.getElementById("counts");
  let recount = null;

  function refreshCounts() {
    if (!counts || recount) {
      return;
    }
    recount = setTimeout(async function () {
      recount = null;
      try {
        const response = await fetch(counts.dataset.refresh, { credentials: "same-origin" });
        if (response.ok) {
          counts.innerHTML = await response.text();
        }
      } catch (error) {
        // The counts stay as they were until the next alert or reload.
      }
    }, 1000);
  }

  // Alerts the feed pushes while the list loads, told again over the loaded list.
  let held = null;

  async function load() {
    held = [];
    try {
      const response = await call("/api/v1/alerts?status=open&limit=100");
      if (!response.ok) {
        throw new Error("alerts " + response.status);
      }
      const alerts = await response.json();
      list.replaceChildren(...alerts.map(item));
      held.forEach(show);
      counted();
    } catch (error) {
      say(words.error);
    } finally {
      held = null;
    }
  }

  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      const response = await call("/api/v1/alerts/" + encodeURIComponent(id) + "/ack", "POST");
      if (!response.ok) {
        throw new Error("ack " + response.status);
      }
      const shown = card(id);
      if (shown) {
        shown.remove();
      }
      counted();
      say(words.acknowledged + " " + state.textContent);
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
    if (name === "ready") {
      // (Re)connected: what arrived while the page was not listening is in the list.
      list.dataset.live = "true";
      load();
      return;
    }
    if (name !== "alert") {
      return;
    }
    try {
      const alert = JSON.parse(data);
      if (held) {
        held.push(alert);
      }
      show(alert);
      refreshCounts();
    } catch (error) {
      // Not an alert this page reads.
    }
  }

  async function listen() {
    for (;;) {
      try {
        const response = await call("/api/v1/alerts/stream");
        if (!response.ok || !response.body) {
          throw new Error("stream " + response.status);
        }
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
        // Without the feed the list is still shown; the feed is tried again below.
        list.dataset.live = "false";
        await load();
      }
      list.dataset.live = "false";
      // The stream ends when its token expires: open it again with a fresh one.
      await new Promise(function (resolve) {
        setTimeout(resolve, 3000);
      });
    }
  }

  listen();
})();
