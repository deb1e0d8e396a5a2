// One presence member, with pusher-js unmodified, authorized by a Django endpoint.
//
// Usage: node member.js '<json config>'
// Config: {key, host, port, authUrl, channel, cookie, csrf, timeout_ms}. Prints
// {"type": "here", "socket_id"} once subscribed; leaves and exits on a "quit" line on stdin.
'use strict';

const readline = require('readline');
const Pusher = require('pusher-js');
const { djangoEndpoint, localServer, start } = require('./harness');

const { cfg, out, fail, finish, track } = start('timed out', 60000);

const pusher = track(
  new Pusher(cfg.key, {
    ...localServer(cfg.host, cfg.port),
    channelAuthorization: { customHandler: djangoEndpoint(cfg.authUrl, cfg) },
  }),
);

const channel = pusher.subscribe(cfg.channel);
channel.bind('pusher:subscription_succeeded', () =>
  out({ type: 'here', socket_id: pusher.connection.socket_id }),
);
channel.bind('pusher:subscription_error', (error) => fail(JSON.stringify(error)));
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'quit') finish(0);
});
