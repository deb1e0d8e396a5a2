// pusher-js, unmodified, signs in through django-pusherable's user authentication
// endpoint, then waits for the server to end its connection.
//
// Usage: node signin.js '<json config>'
// Config: {key, host, port, authUrl, cookie, csrf, timeout_ms}. Prints one JSON line
// {"type": "signed_in", "socket_id"} once signed in, then {"type": "closed", "code"}
// when the server closes the connection, and exits.
'use strict';

const Pusher = require('pusher-js');

const cfg = JSON.parse(process.argv[2]);
const overall = setTimeout(() => fail('scenario timed out'), cfg.timeout_ms || 20000);

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
  userAuthentication: {
    // What the browser sends (session cookie, CSRF token), through Node's fetch.
    customHandler: ({ socketId }, callback) => {
      fetch(cfg.authUrl, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Cookie: cfg.cookie,
          'X-CSRFToken': cfg.csrf,
        },
        body: new URLSearchParams({ socket_id: socketId }),
      })
        .then(async (response) => {
          if (response.ok) callback(null, await response.json());
          else callback(new Error(`${response.status}: ${await response.text()}`), null);
        })
        .catch((error) => callback(error, null));
    },
  },
});

let lastErrorCode = null;
pusher.connection.bind('error', (error) => {
  // The server sends pusher:error with the code, then closes the socket with it.
  lastErrorCode = (error && error.data && error.data.code) || lastErrorCode;
});
pusher.connection.bind('message', (event) => {
  // Signed in once the server confirmed the #server-to-user channel.
  if (
    event.event === 'pusher_internal:subscription_succeeded' &&
    String(event.channel).startsWith('#server-to-user-')
  ) {
    out({ type: 'signed_in', socket_id: pusher.connection.socket_id });
  }
});
pusher.connection.bind('state_change', ({ previous, current }) => {
  if (previous === 'connected' && current !== 'connected') {
    out({ type: 'closed', code: lastErrorCode, state: current });
    finish(0);
  }
});
pusher.signin();
