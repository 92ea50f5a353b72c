-- The user-service tables the peer (and chatd) read, and the load generator's
-- users: bench<id> for ids first .. first+n-1, each pair (first+2k, first+2k+1)
-- following each other both ways. With first = 1: (1,2), (3,4), ...
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v n=1000 [-v first=1] -f seed-users.sql
--
-- Idempotent (CREATE TABLE IF NOT EXISTS, ON CONFLICT DO NOTHING), one
-- transaction. The same shape as `chatctl bench-users N [--first-id ID]`; this
-- file is the fallback and the documentation of that shape. In production these
-- tables belong to the user service (the seed's "Java backend"): the chat
-- server only reads them.

\if :{?n}
\else
\set n 1000
\endif
\if :{?first}
\else
\set first 1
\endif

SET client_min_messages = warning;

BEGIN;

CREATE TABLE IF NOT EXISTS users_auth (
  user_id    BIGINT PRIMARY KEY,
  username   TEXT UNIQUE NOT NULL,
  created_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS user_profile_info (
  user_id         BIGINT PRIMARY KEY,
  display_name    TEXT,
  profile_picture TEXT
);

CREATE TABLE IF NOT EXISTS jwt_revocation (
  jti        TEXT PRIMARY KEY,
  revoked_at TIMESTAMPTZ,
  expires_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS blocked_relationships (
  blocker_user_id BIGINT,
  blocked_user_id BIGINT,
  created_at      TIMESTAMPTZ,
  PRIMARY KEY (blocker_user_id, blocked_user_id)
);

CREATE TABLE IF NOT EXISTS user_follows (
  follower_id BIGINT,
  followee_id BIGINT,
  created_at  TIMESTAMPTZ,
  PRIMARY KEY (follower_id, followee_id)
);

INSERT INTO users_auth (user_id, username, created_at)
SELECT id, 'bench' || id, now()
  FROM generate_series(CAST(:first AS BIGINT), CAST(:first AS BIGINT) + :n - 1) AS id
ON CONFLICT DO NOTHING;

-- only for ids that exist: one whose username another id holds was skipped above
INSERT INTO user_profile_info (user_id, display_name, profile_picture)
SELECT u.user_id, 'Bench ' || u.user_id, NULL
  FROM users_auth u
 WHERE u.user_id BETWEEN :first AND CAST(:first AS BIGINT) + :n - 1
ON CONFLICT DO NOTHING;

-- a is the first of each complete pair; both directions
INSERT INTO user_follows (follower_id, followee_id, created_at)
SELECT f, t, now()
  FROM generate_series(CAST(:first AS BIGINT), CAST(:first AS BIGINT) + :n - 2, 2) AS a,
       LATERAL (VALUES (a, a + 1), (a + 1, a)) AS p (f, t)
ON CONFLICT DO NOTHING;

COMMIT;
