'use strict';
// The seed's Node.js chat server, the comparison peer of chatd's benchmarks.
// One process, one event loop (the seed's single instance): a `ws` server, the
// seed's in-memory maps, JWT validation with jsonwebtoken plus the two
// database checks, and the seed's direct-message path: block query, follow
// query, rate limit, AES-256-CBC, INSERT, then the broadcast to every
// connection of both users. See README.md for what is and is not here.

const http = require('http');
const crypto = require('crypto');
const { WebSocketServer, WebSocket } = require('ws');
const jwt = require('jsonwebtoken');

const config = require('./config');
const db = require('./db');

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 };

function makeLog(level) {
  const max = LEVELS[level] ?? LEVELS.info;
  const at = (l, fn) => (...a) => { if (LEVELS[l] <= max) fn(new Date().toISOString(), l, ...a); };
  return {
    error: at('error', console.error), warn: at('warn', console.error),
    info: at('info', console.log), debug: at('debug', console.log),
  };
}

let cfg;
try {
  cfg = config.load();
} catch (err) {
  console.error('seed-node: ' + err.message);
  process.exit(1);
}
const log = makeLog(cfg.logLevel);
const ENCRYPTION_KEY = Buffer.from(cfg.encryptionKeyHex, 'hex');
const pool = db.createPool(cfg, log);

// ---- the seed's in-memory state -------------------------------------------

// 1. All WebSocket connections: clientId -> { ws, user, clientIp, lastActivity, messageCount }
const clients = new Map();
// 2. User to connections (several devices/tabs): userId -> Set(clientId)
const userConnections = new Map();
// 3. Conversation cache: conversationId -> { participants: Set, messages: [] },
//    and the pair "a:b" -> conversationId (or the promise of it) in front of it
const conversations = new Map();
const conversationByPair = new Map();
// 5. Rate limiting: userId -> timestamps of the sends inside the window
const messageRateLimit = new Map();
// 6. IP tracking: ip -> connection count
const ipConnections = new Map();

// ---- helpers -----------------------------------------------------------------

function send(client, obj) {
  const ws = client.ws;
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify(obj));
  // A consumer that does not read must not grow the heap without bound.
  if (ws.bufferedAmount > cfg.maxSendQueueBytes) ws.close(4004, 'slow consumer');
}

function sendError(client, requestId, code, message, extra) {
  const e = { type: 'error' };
  if (requestId !== undefined) e.requestId = requestId;
  e.code = code;
  e.message = message;
  if (extra) Object.assign(e, extra);
  send(client, e);
}

function isId(v) {
  return (typeof v === 'string' && /^[0-9]{1,19}$/.test(v)) ||
    (Number.isSafeInteger(v) && v >= 0);
}

function encrypt(text) {
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-cbc', ENCRYPTION_KEY, iv);
  const enc = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return iv.toString('hex') + ':' + enc.toString('hex');
}

// Counterpart of encrypt, for reading history back (unused on the hot path).
function decrypt(stored) {
  const [ivHex, dataHex] = stored.split(':');
  const decipher = crypto.createDecipheriv('aes-256-cbc', ENCRYPTION_KEY, Buffer.from(ivHex, 'hex'));
  return Buffer.concat([decipher.update(Buffer.from(dataHex, 'hex')), decipher.final()]).toString('utf8');
}

function codePoints(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

function onlineUserIds(ids) {
  return ids.filter((id) => userConnections.has(id));
}

function sendToUser(userId, obj, exceptClientId) {
  const ids = userConnections.get(userId);
  if (!ids) return;
  ids.forEach((clientId) => {
    if (clientId === exceptClientId) return;
    const c = clients.get(clientId);
    if (c) send(c, obj);
  });
}

// ---- Layer 4: rate limiting (sliding window, per user) ------------------------

// Returns 0 when the send may go (and counts it), else the ms until it may.
function rateLimitCheck(userId) {
  const now = Date.now();
  let w = messageRateLimit.get(userId);
  if (!w) {
    w = { times: [], head: 0 };
    messageRateLimit.set(userId, w);
  }
  const from = now - cfg.rateLimitWindowMs;
  while (w.head < w.times.length && w.times[w.head] <= from) w.head++;
  if (w.head > 1024 && w.head * 2 > w.times.length) {
    w.times = w.times.slice(w.head);
    w.head = 0;
  }
  if (w.times.length - w.head >= cfg.rateLimitMessages) {
    return Math.max(1, w.times[w.head] + cfg.rateLimitWindowMs - now);
  }
  w.times.push(now);
  return 0;
}

// ---- authentication -------------------------------------------------------------

function authError(client, requestId, code, message) {
  const r = { type: 'auth_error' };
  if (requestId !== undefined) r.requestId = requestId;
  r.code = code;
  r.message = message;
  send(client, r);
  client.ws.close(4001, 'authentication failed');
}

async function handleAuthenticate(client, msg, requestId) {
  if (client.user || client.authenticating) {
    return sendError(client, requestId, 'already_authenticated', 'Already authenticated');
  }
  if (typeof msg.token !== 'string' || msg.token.length === 0 || msg.token.length > 8192) {
    return authError(client, requestId, 'invalid_token', 'Invalid token');
  }
  client.authenticating = true;

  // Layer 1: signature (HS256 only) and expiry, with the shared JWT_SECRET.
  let claims;
  try {
    claims = jwt.verify(msg.token, cfg.jwtSecret, {
      algorithms: ['HS256'],
      clockTolerance: 30,
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
    });
  } catch (err) {
    client.authenticating = false;
    if (err.name === 'TokenExpiredError') return authError(client, requestId, 'token_expired', 'Token expired');
    return authError(client, requestId, 'invalid_token', 'Invalid token');
  }
  const rawId = claims && typeof claims === 'object'
    ? (claims.userId !== undefined ? claims.userId : claims.sub) : undefined;
  if (!isId(rawId) ||
      typeof claims.jti !== 'string' || typeof claims.exp !== 'number') {
    client.authenticating = false;
    return authError(client, requestId, 'invalid_token', 'Invalid token');
  }
  const userId = String(rawId);

  // Then, independently of the user service: revocation, and the user.
  let row;
  try {
    if (await db.isRevoked(pool, claims.jti)) {
      client.authenticating = false;
      return authError(client, requestId, 'token_revoked', 'Token revoked');
    }
    row = await db.getUser(pool, userId);
  } catch (err) {
    client.authenticating = false;
    log.error('auth query failed:', err.message);
    return authError(client, requestId, 'unavailable', 'Database unavailable');
  }
  if (!row) {
    client.authenticating = false;
    return authError(client, requestId, 'user_not_found', 'User not found');
  }
  if (client.ws.readyState !== WebSocket.OPEN) return; // closed meanwhile

  let ids = userConnections.get(userId);
  if (ids && ids.size >= cfg.maxConnectionsPerUser) {
    client.authenticating = false;
    return authError(client, requestId, 'too_many_sessions', 'Too many sessions');
  }
  const firstConnection = !ids;
  if (!ids) {
    ids = new Set();
    userConnections.set(userId, ids);
  }
  ids.add(client.clientId);
  clearTimeout(client.authTimer);
  client.authTimer = null;
  client.authenticating = false;
  client.user = {
    userId,
    username: row.username,
    displayName: row.display_name,
    profilePicture: row.profile_picture,
    jti: claims.jti,
    exp: claims.exp,
  };

  const ok = { type: 'auth_success' };
  if (requestId !== undefined) ok.requestId = requestId;
  ok.userId = userId;
  ok.username = row.username;
  ok.clientId = client.clientId;
  ok.expiresAt = new Date(claims.exp * 1000).toISOString();
  send(client, ok);

  // "Load online users": whom this user follows, online, no block either way;
  // and, on the user's first connection, user_online to online followers.
  try {
    const following = await db.getFollowing(pool, userId);
    send(client, { type: 'online_users', userIds: onlineUserIds(following) });
    if (firstConnection) {
      const followers = await db.getFollowers(pool, userId);
      const ev = { type: 'user_online', userId };
      onlineUserIds(followers).forEach((id) => sendToUser(id, ev));
    }
  } catch (err) {
    log.warn('presence query failed:', err.message);
  }
}

// ---- direct messages ------------------------------------------------------------------

function conversationFor(a, b) {
  const [x, y] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  const key = x + ':' + y;
  let id = conversationByPair.get(key);
  if (id === undefined) {
    id = db.getOrCreateConversation(pool, x, y).then((cid) => {
      conversationByPair.set(key, cid);
      return cid;
    }, (err) => {
      conversationByPair.delete(key);
      throw err;
    });
    conversationByPair.set(key, id);
  }
  return id; // a string, or a promise of one
}

function cacheMessage(message) {
  let conv = conversations.get(message.conversationId);
  if (!conv) {
    conv = { participants: new Set([message.senderId, message.recipientId]), messages: [] };
    conversations.set(message.conversationId, conv);
  }
  conv.messages.push(message);
}

async function handleSendPrivateMessage(client, msg, requestId) {
  const senderId = client.user.userId;

  // Input validation
  const { recipientId: rawRecipient, content, clientMessageId, replyToId } = msg;
  if (!isId(rawRecipient) || typeof content !== 'string' || content.trim().length === 0 ||
      (clientMessageId !== undefined && clientMessageId !== null &&
        (typeof clientMessageId !== 'string' || clientMessageId.length > 64)) ||
      (replyToId !== undefined && replyToId !== null && !isId(replyToId))) {
    return sendError(client, requestId, 'invalid_request', 'Invalid message');
  }
  if (content.length > cfg.maxMessageLength && codePoints(content) > cfg.maxMessageLength) {
    return sendError(client, requestId, 'content_too_long',
      `Message exceeds ${cfg.maxMessageLength} characters`);
  }
  const recipientId = String(rawRecipient);
  if (recipientId === senderId) {
    return sendError(client, requestId, 'invalid_request', 'Cannot message yourself');
  }

  let message;
  try {
    // Layer 2: blocking (either way); Layer 3: the sender follows the recipient.
    if (await db.isBlocked(pool, senderId, recipientId)) {
      return sendError(client, requestId, 'blocked', 'Cannot message this user');
    }
    if (!(await db.isFollowing(pool, senderId, recipientId))) {
      return sendError(client, requestId, 'not_following', 'You must follow this user to message them');
    }
    // Layer 4: rate limit.
    const retryAfterMs = rateLimitCheck(senderId);
    if (retryAfterMs) {
      return sendError(client, requestId, 'rate_limited', 'Too many messages', { retryAfterMs });
    }

    const conversationId = await conversationFor(senderId, recipientId);
    const row = await db.insertPrivateMessage(pool, {
      conversationId,
      senderId,
      recipientId,
      encryptedContent: encrypt(content),
      clientMessageId: clientMessageId ?? null,
      replyToId: replyToId == null ? null : String(replyToId),
    });
    const u = client.user;
    message = {
      messageId: row.message_id,
      conversationId,
      groupId: null,
      senderId,
      sender: {
        userId: senderId, username: u.username,
        displayName: u.displayName, profilePicture: u.profilePicture,
      },
      recipientId,
      content,
      clientMessageId: clientMessageId ?? null,
      replyToId: replyToId == null ? null : String(replyToId),
      mentions: [],
      isAnnouncement: false,
      createdAt: row.created_at.toISOString(),
      editedAt: null,
      deleted: false,
      reactions: {},
      pinned: false,
    };
  } catch (err) {
    log.error('send_private_message failed:', err.message);
    return sendError(client, requestId, 'unavailable', 'Message not sent: database unavailable');
  }

  // Only after the write: the cache, the confirmation, the broadcast.
  cacheMessage(message);
  client.messageCount++;

  const ack = { type: 'new_message' };
  if (requestId !== undefined) ack.requestId = requestId;
  ack.message = message;
  send(client, ack);

  // The event, without requestId, to every other connection of the sender and
  // to every connection of the recipient (one JSON.stringify per connection,
  // as in the seed's forEach).
  const event = { type: 'new_message', message };
  sendToUser(senderId, event, client.clientId);
  sendToUser(recipientId, event);
}

// ---- routing ------------------------------------------------------------------------------

async function handleMessage(client, data, isBinary) {
  if (isBinary) {
    client.ws.close(1003, 'binary frames are not accepted');
    return;
  }
  client.lastActivity = Date.now();

  let msg;
  try {
    msg = JSON.parse(data.toString('utf8'));
  } catch {
    msg = undefined;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    return sendError(client, undefined, 'invalid_json', 'Message is not a JSON object');
  }
  let requestId = msg.requestId;
  if (requestId !== undefined && (typeof requestId !== 'string' || requestId.length > 64)) {
    return sendError(client, undefined, 'invalid_request', 'requestId must be a string of at most 64 characters');
  }

  if (msg.type === 'authenticate') return handleAuthenticate(client, msg, requestId);
  if (msg.type === 'ping') {
    const pong = { type: 'pong' };
    if (requestId !== undefined) pong.requestId = requestId;
    pong.ts = Date.now();
    return send(client, pong);
  }
  if (!client.user) {
    return sendError(client, requestId, 'not_authenticated', 'Authenticate first');
  }
  switch (msg.type) {
    case 'send_private_message':
      return handleSendPrivateMessage(client, msg, requestId);
    default:
      return sendError(client, requestId, 'unknown_type', 'Unknown message type');
  }
}

// ---- connections ---------------------------------------------------------------------------

function onConnection(ws, req) {
  const clientId = crypto.randomUUID();
  const clientIp = req.socket.remoteAddress;
  const client = {
    ws, clientId, clientIp, user: null, authenticating: false,
    lastActivity: Date.now(), messageCount: 0, isAlive: true, authTimer: null,
  };
  clients.set(clientId, client);
  ipConnections.set(clientIp, (ipConnections.get(clientIp) || 0) + 1);

  client.authTimer = setTimeout(() => {
    if (!client.user) ws.close(4000, 'authentication timeout');
  }, cfg.authTimeoutMs);

  ws.on('pong', () => { client.isAlive = true; });
  ws.on('message', (data, isBinary) => {
    client.isAlive = true;
    handleMessage(client, data, isBinary).catch((err) => {
      log.error('handler error:', err.stack || err.message);
      sendError(client, undefined, 'internal', 'Internal error');
    });
  });
  ws.on('error', (err) => log.debug('ws error:', err.message));
  ws.on('close', () => onClose(client));
}

function onClose(client) {
  clearTimeout(client.authTimer);
  clients.delete(client.clientId);
  const n = (ipConnections.get(client.clientIp) || 1) - 1;
  if (n > 0) ipConnections.set(client.clientIp, n);
  else ipConnections.delete(client.clientIp);

  if (!client.user) return;
  const userId = client.user.userId;
  const ids = userConnections.get(userId);
  if (!ids) return;
  ids.delete(client.clientId);
  if (ids.size > 0) return;
  userConnections.delete(userId);
  // The user's last connection: user_offline to online followers.
  const ev = { type: 'user_offline', userId, lastSeen: new Date().toISOString() };
  db.getFollowers(pool, userId)
    .then((followers) => onlineUserIds(followers).forEach((id) => sendToUser(id, ev)))
    .catch((err) => log.debug('presence query failed:', err.message));
}

function rejectUpgrade(socket, status, text) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

// ---- HTTP + WebSocket server -----------------------------------------------------------------

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: cfg.maxFrameBytes,
  clientTracking: false,
  // The seed's compression settings (used only when the client offers it).
  perMessageDeflate: {
    zlibDeflateOptions: { chunkSize: 1024, memLevel: 3, level: 1 },
    threshold: 512,
  },
});

const startedAt = Date.now();

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/health') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({
      status: 'ok', uptimeS: Math.floor((Date.now() - startedAt) / 1000), connections: clients.size,
    }));
  } else if (req.method === 'GET' && path === '/ready') {
    pool.query('SELECT 1').then(() => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"ready"}');
    }, () => {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end('{"status":"unavailable"}');
    });
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const path = req.url.split('?')[0];
  if (path !== '/' && path !== '/ws') return rejectUpgrade(socket, 404, 'Not Found');
  if (cfg.allowedOrigins.length && !cfg.allowedOrigins.includes(req.headers.origin)) {
    return rejectUpgrade(socket, 403, 'Forbidden');
  }
  if (clients.size >= cfg.maxConnections) return rejectUpgrade(socket, 503, 'Service Unavailable');
  const ip = socket.remoteAddress;
  if ((ipConnections.get(ip) || 0) >= cfg.maxConnectionsPerIp) {
    return rejectUpgrade(socket, 429, 'Too Many Requests');
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
});

// Heartbeat: a WebSocket ping every interval; no frame since the last one →
// dead peer.
const heartbeat = setInterval(() => {
  clients.forEach((client) => {
    if (!client.isAlive) {
      client.ws.terminate();
      return;
    }
    client.isAlive = false;
    if (client.ws.readyState === WebSocket.OPEN) client.ws.ping();
  });
}, cfg.heartbeatIntervalMs);

// The seed's cleanup, every 30 s: inactive clients, the message cache trimmed
// to the last MESSAGE_CACHE_SIZE per conversation, rate-limit data.
const cleanup = setInterval(() => {
  const now = Date.now();
  clients.forEach((client) => {
    if (now - client.lastActivity > cfg.idleTimeoutMs) client.ws.close(4002, 'idle');
  });
  for (const conv of conversations.values()) {
    if (conv.messages.length > cfg.messageCacheSize) {
      conv.messages = conv.messages.slice(-cfg.messageCacheSize);
    }
  }
  for (const [userId, w] of messageRateLimit) {
    const last = w.times[w.times.length - 1];
    if (last === undefined || now - last > cfg.rateLimitWindowMs) messageRateLimit.delete(userId);
  }
}, cfg.cleanupIntervalMs);

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log.info(`${signal}: closing ${clients.size} connections`);
  clearInterval(heartbeat);
  clearInterval(cleanup);
  server.close();
  clients.forEach((client) => client.ws.close(1001, 'server shutting down'));
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  const wait = () => {
    if (clients.size === 0) pool.end().finally(() => process.exit(0));
    else setTimeout(wait, 20);
  };
  wait();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

async function main() {
  await db.ensureSchema(pool);
  await db.warm(pool, cfg.pool.min);
  server.listen(cfg.port, cfg.host, () => {
    const a = server.address();
    log.info(`seed-node peer listening on ${a.address}:${a.port} (pid ${process.pid}, ` +
      `pool max ${cfg.pool.max} min ${cfg.pool.min}, rate limit ${cfg.rateLimitMessages}/${cfg.rateLimitWindowMs} ms)`);
  });
}

main().catch((err) => {
  log.error('startup failed:', err.message);
  process.exit(1);
});

module.exports = { encrypt, decrypt };
