// Package local is the provisioner backend for a PostgreSQL server the operator points
// clonebot at: each clone is a database and a login role of its own on that server, its
// credentials live in a file secret store, and its backups are files in a local folder.
//
// It owns:
//   - Provisioner: Create (restore: an empty database the agent restores into; fast-clone:
//     CREATE DATABASE … TEMPLATE the live source), Extend (moves the role's VALID UNTIL) and
//     Destroy (NOLOGIN, sessions terminated, database and role dropped, secret deleted), each
//     under a per-request advisory lock on the server so replicas never interleave; Revoke
//     (NOLOGIN and sessions terminated, ahead of the destroy) and Sweep (the orphan reaper:
//     the clones of this admin role whose role comment or credentials file names a request
//     no live request owns are destroyed);
//   - SecretStore: one 0600 JSON file per clone in a 0700 directory, referenced as
//     file://<absolute path>; the restore agent resolves references with it;
//   - Catalogue: backup files laid out as <root>/<source>/<YYYY-MM-DD>/<file>; a fast-clone
//     source has no files, its only "backup" is the live template at the time asked for.
//
// A clone's role can connect to its own database only: CONNECT is revoked from PUBLIC on
// every clone database, and a fast-clone template must not grant CONNECT to PUBLIC either
// (Create refuses it). Other databases on the server (postgres, the operator's own) should
// do the same; the server should use password authentication (scram-sha-256) for the hosts
// clones connect from, since under trust authentication PostgreSQL checks neither the
// password nor VALID UNTIL.
//
// Passwords never leave this package except in the secret file: the role's password is sent
// to the server as a SCRAM-SHA-256 verifier computed here, so no statement, server log line
// or error message can carry it.
package local
