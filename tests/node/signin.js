// pusher-js, unmodified, signs in through django-pusherable's user authentication
// endpoint, then waits for the server to end its connection.
//
// Usage: node signin.js '<json config>'
// Config: {key, host, port, authUrl, cookie, csrf, timeout_ms}. Prints one JSON line
// {"type": "signed_in", "socket_id"} once signed in, then {"type": "closed", "code"}
// when the server closes the connection, and exits.
'use strict';

const Pusher = require('pusher-js');
const { djangoEndpoint, localServer, start } = require('./harness');

const { cfg, out, finish, track } = start('scenario timed out', 20000);

const pusher = track(
  new Pusher(cfg.key, {
    ...localServer(cfg.host, cfg.port),
    userAuthentication: { customHandler: djangoEndpoint(cfg.authUrl, cfg) },
  }),
);

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
