// Laravel Echo (npm) with pusher-js, unmodified, against a Pusher-compatible server,
// authorized by django-pusherable's channel authorization endpoint.
//
// Usage: node echo.js '<json config>'
// Config: {key, host, authUrl, channel (Echo's name, without "presence-"),
//          users: [{port, cookie, csrf}, {port, cookie, csrf}], timeout_ms}.
// The first user joins; once Echo's `here` fired, the second joins; once the first
// saw `joining` (and the second its own `here`), the second leaves. Each callback prints one JSON line on stdout:
// {"type": "here" | "joining" | "leaving", "user": 0 | 1, ...}; then {"type": "done"}.
'use strict';

const Pusher = require('pusher-js');
const { djangoEndpoint, localServer, start } = require('./harness');

const { cfg, out, fail, finish, track } = start('scenario timed out', 20000);

function connect(Echo, user) {
  return track(
    new Echo({
      broadcaster: 'pusher',
      Pusher,
      key: cfg.key,
      ...localServer(cfg.host, user.port),
      channelAuthorization: { customHandler: djangoEndpoint(cfg.authUrl, user) },
    }),
  );
}

async function main() {
  // laravel-echo 2 is an ES module (its CommonJS build does not load in Node 20).
  const Echo = (await import('laravel-echo')).default;
  const first = connect(Echo, cfg.users[0]);
  let second = null;
  // The second user leaves once it has its own `here` and the first saw it join.
  let waitingFor = 2;
  const stepDone = () => {
    waitingFor -= 1;
    if (waitingFor === 0) second.leave(cfg.channel);
  };

  first
    .join(cfg.channel)
    .here((members) => {
      out({ type: 'here', user: 0, members });
      second = connect(Echo, cfg.users[1]);
      second
        .join(cfg.channel)
        .here((members) => {
          out({ type: 'here', user: 1, members });
          stepDone();
        })
        .error((error) => fail(`second user: ${JSON.stringify(error)}`));
    })
    .joining((member) => {
      out({ type: 'joining', user: 0, member });
      stepDone();
    })
    .leaving((member) => {
      out({ type: 'leaving', user: 0, member });
      out({ type: 'done' });
      finish(0);
    })
    .error((error) => fail(`first user: ${JSON.stringify(error)}`));
}

main().catch((error) => fail(String(error)));
