'use strict';
// GET /health; POST /notes {"notebook", "title", "body"}; GET /notes?notebook=&page=&per_page=.
// Serves on the unix socket named on the command line: node app/server.js /tmp/notes.sock

const fs = require('node:fs');
const http = require('node:http');
const { Notes, ValidationError } = require('./notes');

const MAX_PER_PAGE = 100;
const notes = new Notes();

function answer(response, status, data) {
  const body = JSON.stringify(data);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function positive(value, fallback) {
  if (value === null) return fallback;
  const number = Number(value);
  return Number.isInteger(number) && number > 0 ? number : null;
}

function list(url, response) {
  const notebook = url.searchParams.get('notebook');
  const page = positive(url.searchParams.get('page'), 1);
  const perPage = positive(url.searchParams.get('per_page'), 10);
  if (!notebook || page === null || perPage === null || perPage > MAX_PER_PAGE) {
    const error = `notebook is required; page and per_page are whole numbers from 1 (per_page at most ${MAX_PER_PAGE})`;
    return answer(response, 400, { error });
  }
  answer(response, 200, notes.page(notebook, { page, perPage }));
}

function create(request, response) {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return answer(response, 400, { error: 'the body must be JSON' });
    }
    try {
      answer(response, 201, notes.create(data ?? {}));
    } catch (error) {
      if (error instanceof ValidationError) return answer(response, 400, { error: error.message });
      console.error(error);
      answer(response, 500, { error: 'internal error' });
    }
  });
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://localhost');
  if (request.method === 'GET' && url.pathname === '/health') return answer(response, 200, { status: 'ok' });
  if (request.method === 'GET' && url.pathname === '/notes') return list(url, response);
  if (request.method === 'POST' && url.pathname === '/notes') return create(request, response);
  answer(response, 404, { error: 'not found' });
});

if (require.main === module) {
  const socketPath = process.argv[2];
  fs.rmSync(socketPath, { force: true });
  server.listen(socketPath);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

module.exports = { server };
