// The walkthrough's hello-world app: answers "Hello World" on port 3000.
//
// The image's APP_VERSION (set when the image is built, see image/build-hello.sh)
// changes the answer, so a new image tag rolling out is visible with curl:
// tag 1 answers "Hello World", tag 2 "Hello World v2".
// GET /message answers the MESSAGE environment variable (the sample's ConfigMap).
const http = require('http');

const hostname = '0.0.0.0';
const port = Number(process.env.PORT || 3000);
const version = process.env.APP_VERSION || '1';
const greeting = version === '1' ? 'Hello World' : `Hello World v${version}`;

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  if (req.url === '/message') {
    res.statusCode = 200;
    res.end(`${process.env.MESSAGE || ''}\n`);
  } else if (req.url === '/' || req.url === '/healthz') {
    res.statusCode = 200;
    res.end(`${greeting}\n`);
  } else {
    res.statusCode = 404;
    res.end('not found\n');
  }
});

server.listen(port, hostname, () => {
  console.log(`Server running at http://${hostname}:${port}/ (version ${version})`);
});

// PID 1 in its container: leave promptly when the kubelet stops the pod.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
