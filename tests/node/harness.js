// What the Node test clients share: their JSON config, JSON lines on stdout, an overall
// deadline, pusher-js options for a server on loopback, and Django's endpoints called
// as a browser calls them.
'use strict';

// Read the config, and return out/fail/finish; finish disconnects every connection
// passed to track() and exits once the close frames had time to go out.
function start(timeoutMessage, defaultTimeoutMs) {
  const cfg = JSON.parse(process.argv[2]);
  const connections = [];
  const overall = setTimeout(() => fail(timeoutMessage), cfg.timeout_ms || defaultTimeoutMs);

  function out(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
  }

  function fail(message) {
    out({ type: 'error', message });
    finish(1);
  }

  function finish(code) {
    clearTimeout(overall);
    for (const connection of connections) connection.disconnect();
    setTimeout(() => process.exit(code), 200);
  }

  function track(connection) {
    connections.push(connection);
    return connection;
  }

  return { cfg, out, fail, finish, track };
}

// pusher-js (or Laravel Echo) options for a plain-WebSocket server at host:port.
function localServer(host, port) {
  return {
    cluster: 'local',
    wsHost: host,
    wsPort: port,
    wssPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
  };
}

// A pusher-js customHandler that POSTs to a Django endpoint with the user's session
// cookie and CSRF token, as the browser does. (pusher-js's own XHR in Node refuses to
// set a Cookie header, so Node's fetch does it.)
function djangoEndpoint(url, user) {
  return ({ socketId, channelName }, callback) => {
    const fields = { socket_id: socketId };
    if (channelName !== undefined) fields.channel_name = channelName;
    fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Cookie: user.cookie,
        'X-CSRFToken': user.csrf,
      },
      body: new URLSearchParams(fields),
    })
      .then(async (response) => {
        if (response.ok) callback(null, await response.json());
        else callback(new Error(`${response.status}: ${await response.text()}`), null);
      })
      .catch((error) => callback(error, null));
  };
}

module.exports = { djangoEndpoint, localServer, start };
