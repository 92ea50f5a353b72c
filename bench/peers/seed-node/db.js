'use strict';
// PostgreSQL: the seed's pool, its own tables, and every query the peer makes.
// Plain parameterised pool.query calls, one checkout per query, as the seed's
// handlers do.

const { Pool } = require('pg');

// The peer's own tables, prefixed so that they live beside chatd's
// private_messages / conversations in the same database. Columns and indexes
// are the seed's (private_messages holds DMs and group messages; the two
// (… , created_at DESC) indexes are the seed's "Message lookups"). The seed's
// relationship indexes on blocked_relationships / user_follows are the
// primary keys of those tables, which belong to the user service: the peer
// does not touch them.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS seed_conversations (
  conversation_id BIGSERIAL PRIMARY KEY,
  user_a          BIGINT NOT NULL,
  user_b          BIGINT NOT NULL,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (user_a, user_b)
);
CREATE TABLE IF NOT EXISTS seed_private_messages (
  message_id        BIGSERIAL PRIMARY KEY,
  conversation_id   BIGINT,
  group_id          BIGINT,
  sender_id         BIGINT NOT NULL,
  recipient_id      BIGINT,
  content           TEXT NOT NULL,
  client_message_id TEXT,
  reply_to_id       BIGINT,
  mentions          JSONB,
  is_announcement   BOOLEAN NOT NULL DEFAULT false,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  edited_at         TIMESTAMPTZ,
  is_deleted        BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS seed_idx_conversation_messages
  ON seed_private_messages (conversation_id, created_at DESC);
CREATE INDEX IF NOT EXISTS seed_idx_group_messages
  ON seed_private_messages (group_id, created_at DESC);
`;

function createPool(cfg, log) {
  const pool = new Pool({ connectionString: cfg.databaseUrl, ...cfg.pool });
  // An idle client that loses its server must not take the process down.
  pool.on('error', (err) => log.error('pg pool: idle client error:', err.message));
  return pool;
}

// "Keep 10 connections always ready": pg-pool's `min` only stops the idle
// reaper below 10, it does not open them, so open them once at start.
async function warm(pool, n) {
  const tries = [];
  for (let i = 0; i < n; i++) tries.push(pool.connect());
  const done = await Promise.allSettled(tries);
  done.forEach((d) => { if (d.status === 'fulfilled') d.value.release(); });
  const failed = done.find((d) => d.status === 'rejected');
  if (failed) throw failed.reason;
}

async function ensureSchema(pool) {
  await pool.query(SCHEMA);
}

// ---- authentication (the seed: revocation, then the user) -----------------

async function isRevoked(pool, jti) {
  const r = await pool.query('SELECT 1 FROM jwt_revocation WHERE jti = $1', [jti]);
  return r.rowCount > 0;
}

async function getUser(pool, userId) {
  const r = await pool.query(
    `SELECT u.user_id, u.username, p.display_name, p.profile_picture
       FROM users_auth u LEFT JOIN user_profile_info p ON p.user_id = u.user_id
      WHERE u.user_id = $1`, [userId]);
  return r.rows[0] || null;
}

// ---- presence: whom a user follows / who follows a user, no block either way

async function getFollowing(pool, userId) {
  const r = await pool.query(
    `SELECT f.followee_id AS id FROM user_follows f
      WHERE f.follower_id = $1
        AND NOT EXISTS (SELECT 1 FROM blocked_relationships b
              WHERE (b.blocker_user_id = $1 AND b.blocked_user_id = f.followee_id)
                 OR (b.blocker_user_id = f.followee_id AND b.blocked_user_id = $1))`,
    [userId]);
  return r.rows.map((row) => row.id);
}

async function getFollowers(pool, userId) {
  const r = await pool.query(
    `SELECT f.follower_id AS id FROM user_follows f
      WHERE f.followee_id = $1
        AND NOT EXISTS (SELECT 1 FROM blocked_relationships b
              WHERE (b.blocker_user_id = $1 AND b.blocked_user_id = f.follower_id)
                 OR (b.blocker_user_id = f.follower_id AND b.blocked_user_id = $1))`,
    [userId]);
  return r.rows.map((row) => row.id);
}

// ---- the per-message security checks --------------------------------------

// Layer 2: blocking, bidirectional.
async function isBlocked(pool, a, b) {
  const r = await pool.query(
    `SELECT 1 FROM blocked_relationships
      WHERE (blocker_user_id = $1 AND blocked_user_id = $2)
         OR (blocker_user_id = $2 AND blocked_user_id = $1)
      LIMIT 1`, [a, b]);
  return r.rowCount > 0;
}

// Layer 3: following, unidirectional (the sender follows the recipient).
async function isFollowing(pool, follower, followee) {
  const r = await pool.query(
    'SELECT 1 FROM user_follows WHERE follower_id = $1 AND followee_id = $2',
    [follower, followee]);
  return r.rowCount > 0;
}

// ---- writes ----------------------------------------------------------------

async function getOrCreateConversation(pool, a, b) {
  const r = await pool.query(
    `INSERT INTO seed_conversations (user_a, user_b) VALUES ($1, $2)
     ON CONFLICT (user_a, user_b) DO UPDATE SET user_a = EXCLUDED.user_a
     RETURNING conversation_id`, [a, b]);
  return r.rows[0].conversation_id;
}

async function insertPrivateMessage(pool, m) {
  const r = await pool.query(
    `INSERT INTO seed_private_messages
       (conversation_id, sender_id, recipient_id, content, client_message_id, reply_to_id)
     VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING message_id, created_at`,
    [m.conversationId, m.senderId, m.recipientId, m.encryptedContent,
      m.clientMessageId, m.replyToId]);
  return r.rows[0];
}

module.exports = {
  createPool, warm, ensureSchema,
  isRevoked, getUser, getFollowing, getFollowers,
  isBlocked, isFollowing, getOrCreateConversation, insertPrivateMessage,
};
