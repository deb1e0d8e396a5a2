// Drives the bundled server with the real pusher-js (Node build), unmodified.
//
// Usage: node client.js '<json config>'
// Config: {scenario, host, port, key, secret}. The script prints one JSON object
// per line on stdout ({"type": "ready", ...}, {"type": "result", ...}) and reads
// "next" lines on stdin when the Python test must act between steps. It acts as
// its own auth endpoint by signing with the app secret, as a Django view would.
'use strict';

const crypto = require('crypto');
const readline = require('readline');
const Pusher = require('pusher-js');
const nacl = require('tweetnacl');

const cfg = JSON.parse(process.argv[2]);
const clients = [];

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
  for (const client of clients) client.disconnect();
  // Let the close frames go out before leaving.
  setTimeout(() => process.exit(code), 200);
}

const stdinLines = [];
const stdinWaiters = [];
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const waiter = stdinWaiters.shift();
  if (waiter) waiter(line);
  else stdinLines.push(line);
});

function nextCommand() {
  return new Promise((resolve) => {
    if (stdinLines.length) resolve(stdinLines.shift());
    else stdinWaiters.push(resolve);
  });
}

function sign(secret, text) {
  return crypto.createHmac('sha256', secret).update(text).digest('hex');
}

// A Pusher client. `presence` is the {user_id, user_info} this tab authorizes with,
// `user` the signin user object, `secret` the one used to sign (a wrong one to
// test refusals).
function connect({
  presence = null,
  user = null,
  secret = cfg.secret,
  sharedSecret = null,
  key = cfg.key,
} = {}) {
  const pusher = new Pusher(key, {
    cluster: 'local',
    wsHost: cfg.host,
    wsPort: cfg.port,
    wssPort: cfg.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    nacl,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        if (channelName.startsWith('presence-')) {
          const channelData = JSON.stringify(presence);
          const auth = `${cfg.key}:${sign(secret, `${socketId}:${channelName}:${channelData}`)}`;
          callback(null, { auth, channel_data: channelData });
        } else {
          const response = { auth: `${cfg.key}:${sign(secret, `${socketId}:${channelName}`)}` };
          if (channelName.startsWith('private-encrypted-')) response.shared_secret = sharedSecret;
          callback(null, response);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        const userData = JSON.stringify(user);
        const auth = `${cfg.key}:${sign(secret, `${socketId}::user::${userData}`)}`;
        callback(null, { auth, user_data: userData });
      },
    },
  });
  clients.push(pusher);
  return pusher;
}

function connected(pusher) {
  return new Promise((resolve) => {
    if (pusher.connection.state === 'connected') resolve(pusher.connection.socket_id);
    else pusher.connection.bind('connected', () => resolve(pusher.connection.socket_id));
  });
}

// Resolves with {ok: true, data} on success or {ok: false, error} on subscription_error.
function subscribe(pusher, name) {
  const channel = pusher.subscribe(name);
  return new Promise((resolve) => {
    channel.bind('pusher:subscription_succeeded', (data) => resolve({ ok: true, channel, data }));
    channel.bind('pusher:subscription_error', (error) => resolve({ ok: false, channel, error }));
  });
}

function membersOf(channel) {
  const members = [];
  channel.members.each((member) => members.push({ id: member.id, info: member.info }));
  members.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { count: channel.members.count, me: channel.members.me, members };
}

function waitFor(predicate) {
  return new Promise((resolve) => {
    const check = () => (predicate() ? resolve() : setTimeout(check, 10));
    check();
  });
}

const scenarios = {
  // Public, private (good and bad signature) and presence subscriptions, then the
  // events the Python side triggers, until "done".
  async channels() {
    const pusher = connect({ presence: { user_id: 7, user_info: { name: 'Ann' } } });
    const socketId = await connected(pusher);
    const [pub, priv, denied, presence] = await Promise.all([
      subscribe(pusher, 'public-room'),
      subscribe(pusher, 'private-room'),
      subscribe(connect({ secret: 'wrong-secret' }), 'private-denied'),
      subscribe(pusher, 'presence-room'),
    ]);
    const events = [];
    for (const result of [pub, priv, presence]) {
      result.channel.bind_global((event, data) => {
        if (!event.startsWith('pusher')) events.push({ channel: result.channel.name, event, data });
      });
    }
    out({
      type: 'ready',
      socket_id: socketId,
      subscribed: [pub.ok, priv.ok, presence.ok],
      denied: { ok: denied.ok, error: denied.error },
      presence: membersOf(presence.channel),
    });
    await waitFor(() => events.some((e) => e.event === 'done'));
    out({ type: 'result', events });
  },

  // Two tabs of one user and one other user in a presence channel.
  async presence() {
    const watcher = connect({ presence: { user_id: 'bob', user_info: { name: 'Bob' } } });
    const seen = [];
    const watched = await subscribe(watcher, 'presence-doc');
    watched.channel.bind('pusher:member_added', (m) => seen.push(['added', m.id, m.info]));
    watched.channel.bind('pusher:member_removed', (m) => seen.push(['removed', m.id]));
    const ann = { user_id: 'ann', user_info: { name: 'Ann' } };
    const tab1 = connect({ presence: ann });
    const first = await subscribe(tab1, 'presence-doc');
    const tab2 = connect({ presence: ann });
    const second = await subscribe(tab2, 'presence-doc');
    await waitFor(() => seen.length >= 1);
    out({
      type: 'ready',
      first: membersOf(first.channel),
      second: membersOf(second.channel),
      watcher: membersOf(watched.channel),
    });
    await nextCommand();
    tab2.disconnect();
    // tab2 leaving is not a member leaving; wait until the server counted it.
    await nextCommand();
    const afterOneTab = membersOf(watched.channel);
    tab1.unsubscribe('presence-doc');
    await waitFor(() => seen.some((s) => s[0] === 'removed'));
    out({ type: 'result', seen, after_one_tab: afterOneTab, final: membersOf(watched.channel) });
  },

  // Client events between two users (the server runs with client events enabled).
  async client_events() {
    const alice = connect({ presence: { user_id: 'alice', user_info: {} } });
    const bob = connect({ presence: { user_id: 'bob', user_info: {} } });
    const [aChat, bChat, aPriv, bPriv] = await Promise.all([
      subscribe(alice, 'presence-chat'),
      subscribe(bob, 'presence-chat'),
      subscribe(alice, 'private-pair'),
      subscribe(bob, 'private-pair'),
    ]);
    const bobGot = [];
    const aliceGot = [];
    const aliceErrors = [];
    // bind() (unlike bind_global) hands over the metadata with the user_id.
    for (const event of ['client-typing', 'client-wave', 'client-burst']) {
      for (const ch of [bChat, bPriv]) {
        ch.channel.bind(event, (data, meta) =>
          bobGot.push({ channel: ch.channel.name, event, data, meta }),
        );
      }
    }
    for (const ch of [aChat, aPriv]) {
      ch.channel.bind_global((event) => {
        if (event.startsWith('client-')) aliceGot.push(event);
      });
    }
    alice.connection.bind('error', (error) => aliceErrors.push(error.data || error));
    aChat.channel.trigger('client-typing', { text: 'hi' });
    aPriv.channel.trigger('client-wave', { n: 1 });
    await waitFor(() => bobGot.length >= 2);
    // A burst over the 10/s limit: the rest are refused with pusher:error 4301.
    for (let i = 0; i < 15; i += 1) aPriv.channel.trigger('client-burst', { i });
    const bursts = () => bobGot.filter((e) => e.event === 'client-burst').length;
    await waitFor(() => bursts() + aliceErrors.length >= 15);
    // Bob then sends one back, so that alice's own events had time to come back if echoed.
    bPriv.channel.trigger('client-reply', { ok: true });
    await waitFor(() => aliceGot.includes('client-reply'));
    out({ type: 'result', bob_got: bobGot, alice_got: aliceGot, alice_errors: aliceErrors });
  },

  // Signin, an event sent to the user, then terminate_connections.
  async signin() {
    const pusher = connect({ user: { id: 'user-42', user_info: { name: 'Ann' } } });
    const states = [];
    pusher.connection.bind('state_change', ({ current }) => states.push(current));
    const notes = [];
    pusher.user.bind('note', (data) => notes.push(data));
    await connected(pusher);
    pusher.signin();
    await pusher.user.signinDonePromise;
    await waitFor(() => pusher.user.serverToUserChannel && pusher.user.serverToUserChannel.subscribed);
    out({ type: 'ready', user_data: pusher.user.user_data });
    await waitFor(() => notes.length >= 1);
    out({ type: 'notes', notes });
    await waitFor(() => pusher.connection.state === 'disconnected');
    // Refused (4009): pusher-js must not reconnect on its own.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    out({ type: 'result', states, final_state: pusher.connection.state });
  },

  // A key the server doesn't know: refused with 4001, and pusher-js gives up.
  async unknown_key() {
    const pusher = connect({ key: 'not-a-known-key' });
    const states = [];
    const errors = [];
    pusher.connection.bind('state_change', ({ current }) => states.push(current));
    pusher.connection.bind('error', (error) => errors.push(error));
    await waitFor(() => pusher.connection.state === 'disconnected' || pusher.connection.state === 'failed');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    out({ type: 'result', states, errors });
  },

  // Encrypted channel: the server forwards the ciphertext untouched.
  async encrypted() {
    const pusher = connect({ sharedSecret: cfg.shared_secret });
    await connected(pusher);
    const result = await subscribe(pusher, cfg.channel);
    const got = [];
    result.channel.bind('secret', (data) => got.push(data));
    out({ type: 'ready', ok: result.ok });
    await waitFor(() => got.length >= 1);
    out({ type: 'result', got });
  },
};

const scenario = scenarios[cfg.scenario];
if (!scenario) fail(`unknown scenario ${cfg.scenario}`);
else scenario().then(() => finish(0), (error) => fail(String(error && error.stack)));
