// Receiver of benchmarks/e2e_latency.py: the real pusher-js (Node build), unmodified.
//
// Usage: node e2e_latency_client.js '<json config>'
// Config: {host, port, key, secret, channel}. Subscribes to `channel` through the
// bundled server (signing the authorization with the app secret, as Django's auth
// view would, as a member for a presence channel), prints {"type": "ready"} once subscribed, then one line per event
// received: {"type": "event", "event": name, "seq": data.seq}. Stops when stdin closes.
'use strict';

const crypto = require('crypto');
const Pusher = require('pusher-js');

const cfg = JSON.parse(process.argv[2]);

function sign(text) {
  return crypto.createHmac('sha256', cfg.secret).update(text).digest('hex');
}

const pusher = new Pusher(cfg.key, {
  cluster: 'local',
  wsHost: cfg.host,
  wsPort: cfg.port,
  wssPort: cfg.port,
  forceTLS: false,
  enabledTransports: ['ws'],
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, callback) => {
      if (!channelName.startsWith('presence-')) {
        callback(null, { auth: `${cfg.key}:${sign(`${socketId}:${channelName}`)}` });
        return;
      }
      // Objects' channels are presence channels by default: join as a member.
      const channelData = JSON.stringify({ user_id: 'benchmark', user_info: {} });
      const auth = `${cfg.key}:${sign(`${socketId}:${channelName}:${channelData}`)}`;
      callback(null, { auth, channel_data: channelData });
    },
  },
});

const channel = pusher.subscribe(cfg.channel);
channel.bind('pusher:subscription_succeeded', () => {
  process.stdout.write(JSON.stringify({ type: 'ready' }) + '\n');
});
channel.bind('pusher:subscription_error', (error) => {
  process.stdout.write(JSON.stringify({ type: 'error', error }) + '\n');
  process.exit(1);
});
channel.bind_global((event, data) => {
  if (event.startsWith('pusher:')) return;
  const seq = data && data.seq !== undefined ? data.seq : null;
  process.stdout.write(JSON.stringify({ type: 'event', event, seq }) + '\n');
});

process.stdin.on('end', () => {
  pusher.disconnect();
  setTimeout(() => process.exit(0), 100);
});
process.stdin.resume();
