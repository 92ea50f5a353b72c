#!/usr/bin/env bash
# `make run`: a development server in one command. Creates ./data on first
# use (dev secrets in data/dev.env, an SQLite database with the user-service
# tables, demo users who follow each other), prints a ready token per demo
# user, and starts chatd on :3001 in the foreground.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=build/release
mkdir -p data

if [ ! -f data/dev.env ]; then
  umask 077
  {
    echo "# Development secrets, made by scripts/dev-run.sh. Never use them in production."
    echo "JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    echo "MESSAGE_ENCRYPTION_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    echo "DATABASE_URL=sqlite:./data/chat.db"
  } >data/dev.env
  umask 022
fi
set -a
# shellcheck source=/dev/null
. data/dev.env
set +a
export PORT=${PORT:-3001}

"$bin/chatctl" init
demo_users=(alice bob carol)
for name in "${demo_users[@]}"; do
  "$bin/chatctl" user show "$name" >/dev/null 2>&1 ||
    "$bin/chatctl" user add "$name" --display-name "${name^}" >/dev/null
done
for a in "${demo_users[@]}"; do
  for b in "${demo_users[@]}"; do
    [ "$a" = "$b" ] || "$bin/chatctl" follow "$a" "$b" >/dev/null
  done
done

echo
echo "chatd on ws://localhost:$PORT/ws — demo users follow each other; tokens last 24 h:"
for name in "${demo_users[@]}"; do
  echo "  $name: $("$bin/chatctl" token "$name" --ttl 86400)"
done
cat <<HELP

Try it with any WebSocket client, e.g. python3 -m websockets ws://localhost:$PORT/ws, then send
  {"type":"authenticate","token":"<a token above>"}
  {"type":"send_private_message","recipientId":"<the other user's id>","content":"hi"}
(user ids: $(for n in "${demo_users[@]}"; do printf '%s=%s ' "$n" "$("$bin/chatctl" user show "$n" | head -n1)"; done))

HELP
exec "$bin/chatd"
