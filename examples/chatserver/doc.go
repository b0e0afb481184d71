// Command chatserver is a small Mattermost-like chat server that signs the
// shipping iOS app in with Microsoft Intune MAM, using package intune: the
// server side of the whole path the app takes, on a real database, with a
// configuration an admin changes while it runs, shared by replicas.
//
// It needs no Entra account, no internet and no database to install: by
// default it keeps its data in an embedded SQLite file and plays a fake
// Entra tenant itself (DEV ONLY, see tenant.go), whose tokens /dev/token
// forges.
//
// # One server
//
//	go run ./examples/chatserver
//
// It prints where its data lives (by default the user's cache directory,
// e.g. ~/.cache/mamlogin-chatserver; -data to choose; delete that directory
// to start over), the admin token (kept beside the database), and curl
// commands to try:
//
//	TOKEN=$(curl -s localhost:8065/dev/token)
//	curl -si localhost:8065/oauth/intune -H 'Content-Type: application/json' \
//	     -H 'X-Requested-With: XMLHttpRequest' -d '{"device_id":"","access_token":"'$TOKEN'"}'
//	curl -s localhost:8065/api/v4/users/me -H 'Authorization: Bearer <Token header>'
//
// Users, sessions, the configuration and the audit trail survive a restart:
// a session issued before still works after.
//
// # Two replicas
//
// Replicas share one PostgreSQL database; each listens on its own port:
//
//	DSN=postgres://postgres@127.0.0.1:5432/chat?sslmode=disable
//	go run ./examples/chatserver -dsn $DSN -addr 127.0.0.1:8065 -admin-token s3cret &
//	go run ./examples/chatserver -dsn $DSN -addr 127.0.0.1:8066 -admin-token s3cret &
//
// How they share one fake tenant: its signing key is made by the first
// server on the database and kept there (the settings table), so every
// replica serves the same tenant, with the same key, on its own listener.
// The configuration, also in the database, names one of them as Authority
// (the first to store the default configuration; -authority to choose):
// every replica fetches the keys from there, and /dev/token on any replica
// forges tokens with that Authority's issuer, so a token forged by one
// verifies on all. If the replica the Authority names is gone when another
// starts, the starting one takes the Authority over (dev tenant only).
//
// The configuration is applied live: PUT (or PATCH) /api/v4/intune/config
// on any replica checks it, applies it there (refusing, with the field
// named, one it cannot serve), and saves it; the others hear of it through
// PostgreSQL LISTEN/NOTIFY (SQLite: a 0.5 s poll) and apply it within a
// second or so, without a restart. Sessions and users are in the database,
// so a session issued by one replica works on the others.
//
// # Routes
//
//	POST /oauth/intune                 sign-in, where the shipping app posts
//	POST /api/v4/users/login/intune    sign-in, the designed route
//	GET  /api/v4/license/client?format=old   the client licence (Enterprise Advanced)
//	GET  /api/v4/config/client?format=old    the client config, with IntuneMAMEnabled, IntuneScope, IntuneAuthService
//	                                         and DiagnosticId (stored: one per database)
//	GET  /api/v4/users/me              the session's user (Authorization: Bearer <Token>, or the MMAUTHTOKEN cookie)
//	POST /api/v4/users/logout          revokes the session
//	GET  /api/v4/system/ping           200 once the server is ready
//	GET|PUT|PATCH /api/v4/intune/config   the live Intune configuration (admin token)
//	GET  /api/v4/intune/audit?limit=N  the newest sign-in audit records (admin token)
//	GET  /metrics                      Prometheus metrics of sign-ins and of the key set (admin token)
//	GET|POST /admin/intune/test        the admin's test page: paste a token, see every check and who it signs in as
//	                                   (admin token; a browser logs in with any user name and the admin token as password)
//	GET  /dev/token                    DEV ONLY: a token of the fake tenant; query oid, email, aud, tid, scp, ver, azp set
//	                                   that claim, or with an empty value leave it out (oid= forges a token without
//	                                   oid); expired=true (or 1) dates it two hours back, expired=false (or 0) does not;
//	                                   anything else is a 400 that lists these
//	GET  /<tenant>/v2.0/.well-known/openid-configuration, /<tenant>/discovery/v2.0/keys   DEV ONLY: the fake tenant
//
// By default the server answers as the one the shipping app knows: the
// `retry once` rows with 401 (the app retries only on 401) and the silent
// rows with text ("Microsoft Intune authentication is not configured.").
// -documented-codes answers with the contract's documented codes instead.
//
// # Changing the configuration
//
// GET /api/v4/intune/config answers the configuration with its stored
// version (ETag, X-Intune-Config-Version). A PUT or PATCH is made from the
// stored configuration, checked, applied and saved under one lock: two
// changes on one replica are serialised, each made from the other's result,
// and a refused one (400, the field named) changes nothing, stored or live.
// The save is a compare-and-set on the stored version: of two replicas
// changing at once, the later is refused with 409 (read again and retry),
// never saved over the other. A change sent with If-Match: "<version>" is
// refused with 412 if another was saved since that version was read.
//
// Changing AuthService splits users: they are keyed by provider and Entra
// objectId, so after it every user signs in as a new account (the old ones
// stay, unused). The answer to such a change carries a "warning" saying
// so; keep the provider, or move the accounts first (Mattermost: mmctl user
// migrate-auth). Enable, Leeway and AllowedClientIDs change no one's
// account.
//
// # Operating it
//
// Start-up: the server listens at once (the fake tenant must answer the
// keys fetch of its own configuration), but until the stored configuration
// is applied sign-in answers ent.intune.login.not_ready.app_error (503,
// Retry-After: the app shows "Sign in is starting up" with its Retry
// button; never not_configured, which tells the app Intune is off) and every
// other route but the ping and the fake tenant answers 503 with
// Retry-After. The ping answers 200 once the server is ready.
//
// The database pool: -db-max-open (default 20), -db-max-idle (20),
// -db-max-idle-time (5m), -db-max-lifetime (30m). Replicas times
// -db-max-open must stay under PostgreSQL's max_connections (100 by
// default), with room for the admin's tools; each replica also holds one
// connection for LISTEN. database/sql's own defaults (no cap, 2 idle) open
// and close a connection per few dozen sign-ins under load
// (BenchmarkSignIn reports conns-opened).
//
// The audit trail is pruned hourly, on each replica, to -audit-max-age
// (default 2160h, 90 days) and -audit-max-records (default 1000000); 0
// removes that bound. A database that fails audit writes is logged at most
// at the sign-in failure-log rate, each record counting what was lost.
//
// The admin token: a client address that sends five wrong tokens is
// answered 429 with Retry-After (one more attempt every 12 s), before its
// next guess is compared; the log names the address, never what was sent.
//
// Behind a reverse proxy: -trusted-proxies lists the proxies (IPs or CIDRs)
// whose X-Forwarded-Proto and X-Forwarded-For are believed. With it,
// cookies are Secure when the proxy says the request came over https, and
// the admin rate limit counts the client's address, not the proxy's.
// Without it (the default) those headers are ignored: anyone can send them.
//
// # Files
//
// One file per concern, to copy from: main.go (flags, start-up), server.go
// (routes, life cycle), ops.go (metrics and the test page), config.go (the live configuration), client.go (what
// the app reads before it signs in), users.go (the session's user, logout),
// admin.go and adminlimit.go (the admin token and its rate limit), proxy.go
// (trusted proxies), audit.go (the audit trail), tenant.go (the
// fake tenant: delete it in a real server), and sqlstore (users, sessions,
// configuration and audit in SQL).
package main
