'use strict';
// Configuration from the environment (protocol §12 names; the seed's values
// where the seed gives one). No dotenv: the peer takes its environment from
// whoever starts it (make bench, a shell).

function int(name, def, min = 0) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  }
  return v;
}

function load() {
  const cfg = {
    host: process.env.HOST || '0.0.0.0',
    port: int('PORT', 3001, 0),
    databaseUrl: process.env.DATABASE_URL || '',
    jwtSecret: process.env.JWT_SECRET || '',
    jwtIssuer: process.env.JWT_ISSUER || undefined,
    jwtAudience: process.env.JWT_AUDIENCE || undefined,
    encryptionKeyHex: process.env.MESSAGE_ENCRYPTION_KEY || '',
    allowedOrigins: (process.env.ALLOWED_ORIGINS || '')
      .split(',').map((s) => s.trim()).filter(Boolean),

    maxConnections: int('MAX_CONNECTIONS', 10000, 1),
    maxConnectionsPerIp: int('MAX_CONNECTIONS_PER_IP', 100, 1),
    maxConnectionsPerUser: int('MAX_CONNECTIONS_PER_USER', 10, 1),
    maxFrameBytes: int('MAX_FRAME_BYTES', 65536, 1024),
    maxSendQueueBytes: int('MAX_SEND_QUEUE_BYTES', 1048576, 1024),
    maxMessageLength: int('MAX_MESSAGE_LENGTH', 5000, 1),

    // The seed: 30 messages per 60 s per user, sliding window.
    rateLimitMessages: int('RATE_LIMIT_MESSAGES', 30, 1),
    rateLimitWindowMs: int('RATE_LIMIT_WINDOW_MS', 60000, 1),

    // The seed: 30 s to authenticate; ping/pong every 30 s; cleanup every 30 s.
    authTimeoutMs: int('AUTH_TIMEOUT_MS', 30000, 1),
    heartbeatIntervalMs: int('HEARTBEAT_INTERVAL_MS', 30000, 1),
    idleTimeoutMs: int('IDLE_TIMEOUT_MS', 180000, 1),
    cleanupIntervalMs: 30000,
    messageCacheSize: int('MESSAGE_CACHE_SIZE', 100, 0),

    // The seed's pool, verbatim; DB_POOL_MAX only to fit a PostgreSQL whose
    // max_connections is lower than 200 + the other clients.
    pool: {
      max: int('DB_POOL_MAX', 200, 1),
      min: 10,
      idleTimeoutMillis: 30000,
      connectionTimeoutMillis: 2000,
    },

    logLevel: process.env.LOG_LEVEL || 'info',
  };

  if (!cfg.databaseUrl) throw new Error('DATABASE_URL is required (postgres://…)');
  if (Buffer.byteLength(cfg.jwtSecret) < 32) throw new Error('JWT_SECRET is required, at least 32 bytes');
  if (!/^[0-9a-fA-F]{64}$/.test(cfg.encryptionKeyHex)) {
    throw new Error('MESSAGE_ENCRYPTION_KEY is required: 64 hex characters (AES-256 key)');
  }
  cfg.pool.min = Math.min(cfg.pool.min, cfg.pool.max);
  return cfg;
}

module.exports = { load };
