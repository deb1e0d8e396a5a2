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

const cfg = JSON.parse(process.argv[2]);
const echos = [];
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
  for (const echo of echos) echo.disconnect();
  // Let the close frames go out before leaving.
  setTimeout(() => process.exit(code), 200);
}

// The browser sends its session cookie and CSRF token to the endpoint; Node's fetch
// does the same here. (pusher-js's own XHR in Node refuses to set a Cookie header.)
function authorize(user) {
  return ({ socketId, channelName }, callback) => {
    fetch(cfg.authUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Cookie: user.cookie,
        'X-CSRFToken': user.csrf,
      },
      body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }),
    })
      .then(async (response) => {
        if (response.ok) callback(null, await response.json());
        else callback(new Error(`${response.status}: ${await response.text()}`), null);
      })
      .catch((error) => callback(error, null));
  };
}

function connect(Echo, user) {
  const echo = new Echo({
    broadcaster: 'pusher',
    Pusher,
    key: cfg.key,
    cluster: 'local',
    wsHost: cfg.host,
    wsPort: user.port,
    wssPort: user.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: { customHandler: authorize(user) },
  });
  echos.push(echo);
  return echo;
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
