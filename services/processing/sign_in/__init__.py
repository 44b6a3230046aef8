"""Staff sign-in (đăng nhập cán bộ): who may open the officers' pages, and for how long.

- ``passwords``: the rules a password must meet, and its Argon2 hash;
- ``lockout``: how repeated failures lock an account for a while (pure arithmetic);
- ``authenticator``: the ``Authenticator`` port, and the password one behind it (the province's
  OpenID Connect is another implementation of the same port);
- ``store``: credentials and server-side sessions in processing's database;
- ``web``: the session cookie, CSRF tokens and the page routes' dependency;
- ``routes``: the sign-in, sign-out and change-password pages, and the admin's password route.

Bearer tokens (``motcua token``) stay as they are for the API and scripts.
"""
