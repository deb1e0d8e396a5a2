// One presence member, with pusher-js unmodified, authorized by a Django endpoint.
//
// Usage: node member.js '<json config>'
// Config: {key, host, port, authUrl, channel, cookie, csrf, timeout_ms}. Prints
// {"type": "here", "socket_id"} once subscribed; leaves and exits on a "quit" line on stdin.
'use strict';

const readline = require('readline');
const Pusher = require('pusher-js');

const cfg = JSON.parse(process.argv[2]);
const overall = setTimeout(() => fail('timed out'), cfg.timeout_ms || 60000);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(message) {
  out({ type: 'error', message });
  finish(1);
}

function finish(code) {
  clearTimeout(overall);
  pusher.disconnect();
  setTimeout(() => process.exit(code), 200);
}

const pusher = new Pusher(cfg.key, {
  cluster: 'local',
  wsHost: cfg.host,
  wsPort: cfg.port,
  wssPort: cfg.port,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  channelAuthorization: {
    // What the browser sends (session cookie, CSRF token), through Node's fetch.
    customHandler: ({ socketId, channelName }, callback) => {
      fetch(cfg.authUrl, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Cookie: cfg.cookie,
          'X-CSRFToken': cfg.csrf,
        },
        body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }),
      })
        .then(async (response) => {
          if (response.ok) callback(null, await response.json());
          else callback(new Error(`${response.status}: ${await response.text()}`), null);
        })
        .catch((error) => callback(error, null));
    },
  },
});

const channel = pusher.subscribe(cfg.channel);
channel.bind('pusher:subscription_succeeded', () =>
  out({ type: 'here', socket_id: pusher.connection.socket_id }),
);
channel.bind('pusher:subscription_error', (error) => fail(JSON.stringify(error)));
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'quit') finish(0);
});
