// The viewer: sign-in, filters kept in the URL, a paged table, event detail with its proof
// checked here, live tail, exports, and for admin keys the dead letters and the status.
// Text from events is only ever set with textContent: nothing stored is parsed as HTML.

import { ApiError, download, eventStream, getJSON, getText, session, url } from './api.js';
import { cryptoAvailable, ProofError, verifyInclusion } from './proof.js';

// The filters of GET /v1/events, by their API names; the page's URL uses the same names.
const FILTERS = ['tenant', 'service', 'type', 'actor_id', 'target_id', 'outcome', 'since', 'until'];
const DEFAULTS = { order: 'desc', limit: '100' };
const TAIL_FILTERS = FILTERS.filter((name) => name !== 'since' && name !== 'until');
const MAX_LIVE_ROWS = 1000; // live rows kept on top of the table; older ones scroll away
const PROOF_RETRIES = 10; // a fresh event waits for its first checkpoint (409 + Retry-After)

const $ = (selector) => document.querySelector(selector);

const state = {
  config: { auth: true },
  me: null,
  view: 'events',
  query: {}, // filters + order + limit, as in the URL
  cursor: null,
  previous: [], // cursors of the pages before this one (the first page's is null)
  items: [],
  nextCursor: null,
  event: null, // the id whose detail is open
  tail: null, // {controller, lastSeq} while live tail is on
  verifierKey: undefined, // text, or null when integrity is off
  detailToken: 0,
};

// -- small DOM helpers -------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('data-') || name.startsWith('aria-') || name === 'tabindex' || name === 'title' || name === 'scope') node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function show(selector, visible) {
  $(selector).hidden = !visible;
}

function say(selector, text) {
  $(selector).textContent = text || '';
}

function problemText(error) {
  if (!(error instanceof ApiError)) return `The request failed: ${error.message}`;
  const fields = error.problem.errors;
  if (fields && typeof fields === 'object') {
    const parts = Object.entries(fields).map(([field, messages]) => `${field}: ${[].concat(messages).join(' ')}`);
    return `${error.message} ${parts.join('; ')}`;
  }
  return error.message;
}

// -- the URL is the state ----------------------------------------------------------------
function readURL() {
  const params = new URLSearchParams(location.search);
  state.view = ['events', 'dead', 'status'].includes(params.get('view')) ? params.get('view') : 'events';
  state.query = {};
  for (const name of [...FILTERS, 'order', 'limit']) {
    const value = params.get(name);
    if (value) state.query[name] = value;
  }
  state.cursor = params.get('cursor');
  state.event = params.get('event');
  return params.get('tail') === '1';
}

function writeURL(replace = false) {
  const params = new URLSearchParams();
  if (state.view !== 'events') params.set('view', state.view);
  for (const [name, value] of Object.entries(state.query)) {
    if (value && value !== DEFAULTS[name]) params.set(name, value);
  }
  if (state.cursor) params.set('cursor', state.cursor);
  if (state.event) params.set('event', state.event);
  if (state.tail) params.set('tail', '1');
  const text = params.toString();
  const search = text ? `?${text}` : '';
  if (search === location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', location.pathname + search);
}

function listParams(extra = {}) {
  return { ...DEFAULTS, ...state.query, ...extra };
}

// -- sign-in -----------------------------------------------------------------------------
async function loadMe() {
  state.me = await getJSON('/v1/me');
  const isAdmin = state.me.scopes.includes('admin');
  document.querySelectorAll('[data-admin]').forEach((node) => (node.hidden = !isAdmin));
  show('.tabs', true);
  say('#who', state.config.auth ? `${state.me.name} · ${state.me.scopes.join(', ')}` : 'API keys off');
  show('#sign-out', state.config.auth);
  const list = $('#tenant-list');
  list.replaceChildren(...state.me.tenants.map((t) => el('option', { value: t })));
  if (!state.query.tenant && state.me.tenants.length === 1 && !state.me.all_tenants) {
    state.query.tenant = state.me.tenants[0];
  }
}

function showSignIn(message) {
  stopTail();
  closeDetail(false);
  state.me = null;
  for (const id of ['#events-view', '#dead-view', '#status-view', '.tabs', '#sign-out', '#loading']) show(id, false);
  say('#who', '');
  show('#signin-view', true);
  say('#signin-error', message);
  $('#api-key').value = '';
  $('#api-key').focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $('#api-key').value.trim();
  if (!key) {
    say('#signin-error', 'Enter an API key.');
    return;
  }
  session.key = key;
  try {
    await loadMe();
  } catch (error) {
    session.key = null;
    say('#signin-error', error instanceof ApiError && error.status === 401 ? 'That key was refused: unknown or revoked.' : problemText(error));
    $('#api-key').select();
    return;
  }
  $('#api-key').value = '';
  show('#signin-view', false);
  await render();
  focusMain();
}

function signOut() {
  session.key = null;
  showSignIn('Signed out.');
}

/** Any 401 after sign-in means the key stopped working (revoked): ask again. */
function handleAuthError(error) {
  if (error instanceof ApiError && error.status === 401 && state.config.auth) {
    session.key = null;
    showSignIn('Your key was refused (revoked or unknown). Sign in again.');
    return true;
  }
  return false;
}

// -- views -------------------------------------------------------------------------------
async function render() {
  show('#loading', false);
  for (const link of document.querySelectorAll('.tabs a')) {
    const current = link.dataset.view === state.view;
    link.classList.toggle('current', current);
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  show('#events-view', state.view === 'events');
  show('#dead-view', state.view === 'dead');
  show('#status-view', state.view === 'status');
  if (state.view === 'dead') return loadDeadLetters();
  if (state.view === 'status') return loadStatus();
  fillFilterForm();
  updateExports();
  await loadPage();
  if (state.event) await openDetail(state.event, false);
  else closeDetail(false);
}

function focusMain() {
  if (state.view === 'events') $('#f-tenant').focus();
  else $('#main').focus();
}

function switchView(view) {
  if (view !== 'events') stopTail();
  state.view = view;
  state.event = null;
  writeURL();
  render().catch(report);
}

// -- filters -----------------------------------------------------------------------------
function fillFilterForm() {
  const form = $('#filters');
  for (const name of [...FILTERS, 'order', 'limit']) {
    form.elements[name].value = state.query[name] || DEFAULTS[name] || '';
  }
}

function readFilterForm() {
  const form = $('#filters');
  const query = {};
  for (const name of [...FILTERS, 'order', 'limit']) {
    const value = form.elements[name].value.trim();
    if (value) query[name] = value;
  }
  return query;
}

function applyFilters(event) {
  event?.preventDefault();
  state.query = readFilterForm();
  state.cursor = null;
  state.previous = [];
  state.event = null;
  writeURL();
  updateExports();
  closeDetail(false);
  loadPage()
    .then(() => state.tail && startTail())
    .catch(report);
}

function resetFilters() {
  const tenant = state.query.tenant;
  state.query = tenant ? { tenant } : {};
  fillFilterForm();
  applyFilters();
}

function updateExports() {
  const query = { ...state.query };
  delete query.limit;
  for (const format of ['ndjson', 'csv']) {
    $(`#export-${format}`).href = url('/v1/events/export', { format, ...query });
  }
}

async function exportClick(event) {
  // with keys on, a plain link cannot carry the Bearer header: fetch, then save the blob
  if (!session.key) return;
  event.preventDefault();
  const link = event.currentTarget;
  const format = link.id.replace('export-', '');
  const tenant = state.query.tenant || 'events';
  try {
    await download(link.getAttribute('href'), `audit-${tenant}.${format}`);
  } catch (error) {
    if (!handleAuthError(error)) say('#filter-error', problemText(error));
  }
}

// -- the table and paging ----------------------------------------------------------------
async function loadPage() {
  say('#filter-error', '');
  let page;
  try {
    page = await getJSON('/v1/events', listParams({ cursor: state.cursor }));
  } catch (error) {
    if (handleAuthError(error)) return;
    state.items = [];
    state.nextCursor = null;
    renderTable();
    say('#filter-error', problemText(error));
    return;
  }
  state.items = page.items;
  state.nextCursor = page.next_cursor;
  renderTable();
}

/** 2026-11-28T09:15:00.123456Z -> 2026-11-28 09:15:00.123 (the detail has the full value) */
function shortTime(value) {
  return value ? value.replace('T', ' ').replace(/(\.\d{3})\d*/, '$1').replace('Z', '') : '';
}

function cell(text, cls) {
  return el('td', { class: cls || '', text: text ?? '' });
}

function eventRow(item, live = false) {
  const actor = item.actor?.name ? `${item.actor.id} (${item.actor.name})` : item.actor?.id;
  const target = item.target ? [item.target.type, item.target.id].filter(Boolean).join(':') : '';
  const row = el(
    'tr',
    { tabindex: '0', 'data-id': item.id, 'data-seq': String(item.seq), class: live ? 'live' : '' },
    cell(String(item.seq), 'num'),
    cell(shortTime(item.occurred_at), 'mono'),
    cell(item.type, 'mono'),
    cell(item.service),
    cell(actor),
    cell(target),
    el('td', {}, el('span', { class: `badge ${item.outcome}`, text: item.outcome })),
    cell(item.id, 'mono id'),
  );
  row.setAttribute('aria-label', `Event ${item.seq}: ${item.type} by ${item.actor?.id}, ${item.outcome}`);
  return row;
}

function renderTable() {
  const body = $('#events-table tbody');
  body.replaceChildren(...state.items.map((item) => eventRow(item)));
  show('#empty', state.items.length === 0);
  const pageNumber = state.previous.length + 1;
  const count = state.items.length;
  say('#page-info', count ? `Page ${pageNumber}` : '');
  say('#summary', `${count} event${count === 1 ? '' : 's'} on this page${state.nextCursor ? ', more on the next' : ''}`);
  $('#next-page').disabled = !state.nextCursor;
  $('#prev-page').disabled = state.previous.length === 0;
  $('#first-page').disabled = !state.cursor;
  markOpenRow();
}

function nextPage() {
  if (!state.nextCursor) return;
  state.previous.push(state.cursor);
  state.cursor = state.nextCursor;
  turnPage();
}

function previousPage() {
  if (!state.previous.length) return;
  state.cursor = state.previous.pop();
  turnPage();
}

function firstPage() {
  state.cursor = null;
  state.previous = [];
  turnPage();
}

function turnPage() {
  state.event = null;
  closeDetail(false);
  writeURL();
  loadPage()
    .then(() => $('#events-table tbody tr')?.focus())
    .catch(report);
}

function rowKeys(event) {
  const row = event.target.closest('tr[data-id]');
  if (!row) return;
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    openDetail(row.dataset.id).catch(report);
  } else if (event.key === 'ArrowDown' || event.key === 'j') {
    event.preventDefault();
    row.nextElementSibling?.focus();
  } else if (event.key === 'ArrowUp' || event.key === 'k') {
    event.preventDefault();
    row.previousElementSibling?.focus();
  } else if (event.key === 'Home') {
    event.preventDefault();
    row.parentElement.firstElementChild?.focus();
  } else if (event.key === 'End') {
    event.preventDefault();
    row.parentElement.lastElementChild?.focus();
  }
}

// -- detail and proof --------------------------------------------------------------------
function markOpenRow() {
  for (const row of document.querySelectorAll('#events-table tbody tr')) {
    const open = row.dataset.id === state.event;
    row.classList.toggle('open', open);
    if (open) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
}

async function openDetail(id, push = true) {
  const token = ++state.detailToken;
  state.event = id;
  if (push) writeURL();
  markOpenRow();
  const tenant = state.query.tenant || state.me?.tenants?.[0];
  show('#detail', true);
  document.body.classList.add('with-detail');
  say('#detail-title', `Event ${id}`);
  say('#detail-json', 'Loading…');
  setProof('pending', 'Checking the proof…');
  let event;
  try {
    event = await getJSON(`/v1/events/${encodeURIComponent(id)}`, { tenant: state.query.tenant });
  } catch (error) {
    if (handleAuthError(error) || token !== state.detailToken) return;
    say('#detail-json', problemText(error));
    setProof('none', 'No event to check.');
    return;
  }
  if (token !== state.detailToken) return;
  say('#detail-title', `Event ${event.seq} · ${event.type}`);
  say('#detail-json', JSON.stringify(event, null, 2));
  if (push) $('#detail-close').focus();
  await checkProof(event, event.tenant || tenant, token);
}

function setProof(kind, text, detail) {
  const box = $('#proof');
  box.dataset.proof = kind;
  const marks = { verified: '✓ Verified', failed: '✗ Failed', pending: '… Checking', none: '– Not checked' };
  box.replaceChildren(
    el('strong', { class: 'mark', text: marks[kind] }),
    el('span', { text: ` ${text}` }),
    ...(detail ? [el('div', { class: 'muted small', text: detail })] : []),
  );
}

async function verifierKey() {
  if (!state.config.integrity) return null; // asking would only answer 404
  if (state.verifierKey === undefined) {
    try {
      state.verifierKey = await getText('/v1/checkpoints/verifier-key');
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) state.verifierKey = null;
      else throw error;
    }
  }
  return state.verifierKey;
}

async function checkProof(event, tenant, token) {
  if (!cryptoAvailable()) {
    setProof('none', 'This browser offers WebCrypto only over HTTPS or on localhost: open the viewer there to check proofs.');
    return;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const key = await verifierKey();
      if (key === null) {
        setProof('none', 'Integrity is off on this server (no signing key): nothing to check against.');
        return;
      }
      const proof = await getJSON(`/v1/events/${encodeURIComponent(event.id)}/proof`, { tenant });
      if (token !== state.detailToken) return;
      const result = await verifyInclusion(event, proof, key, tenant);
      if (token !== state.detailToken) return;
      setProof(
        'verified',
        `in ${result.origin}, leaf ${result.leafIndex + 1} of ${result.treeSize}.`,
        `Checked here against the verifier key ${result.keyName}: the event's canonical JSON, its inclusion path and the checkpoint's Ed25519 signature.`,
      );
      return;
    } catch (error) {
      if (token !== state.detailToken) return;
      if (error instanceof ProofError) {
        setProof('failed', `${error.message}.`, 'This event does not match what the signed log holds.');
        return;
      }
      if (error instanceof ApiError && error.status === 409 && attempt < PROOF_RETRIES) {
        setProof('pending', 'Stored, but not yet in a signed checkpoint; checking again shortly…');
        await new Promise((resolve) => setTimeout(resolve, (error.retryAfter || 1) * 1000));
        if (token !== state.detailToken) return;
        continue;
      }
      if (handleAuthError(error)) return;
      if (error instanceof ApiError && error.status === 404) {
        setProof('none', 'The server has no proof for this event.');
        return;
      }
      setProof('none', `Could not check: ${problemText(error)}`);
      return;
    }
  }
}

function closeDetail(push = true) {
  state.detailToken++;
  const wasOpen = !$('#detail').hidden;
  const id = state.event;
  show('#detail', false);
  document.body.classList.remove('with-detail');
  if (!push) return;
  state.event = null;
  writeURL();
  markOpenRow();
  if (wasOpen && id) document.querySelector(`#events-table tr[data-id="${CSS.escape(id)}"]`)?.focus();
}

async function copyJSON() {
  try {
    await navigator.clipboard.writeText($('#detail-json').textContent);
    say('#tail-state', 'Copied the JSON.');
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('#detail-json'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
}

// -- live tail ---------------------------------------------------------------------------
function tailStart() {
  // resume after the newest event on screen when this is the newest-first first page,
  // so nothing stored since the page loaded is missed; otherwise start from now
  if (!state.cursor && (state.query.order || 'desc') === 'desc' && state.items.length) {
    return Math.max(...state.items.map((item) => item.seq));
  }
  return null;
}

function startTail() {
  stopTail(false);
  const controller = new AbortController();
  state.tail = { controller, lastSeq: tailStart() };
  $('#tail-toggle').checked = true;
  writeURL(true);
  runTail(state.tail).catch(report);
}

function stopTail(updateURL = true) {
  if (state.tail) state.tail.controller.abort();
  const wasOn = Boolean(state.tail);
  state.tail = null;
  $('#tail-toggle').checked = false;
  setTailState('');
  if (wasOn && updateURL) writeURL(true);
}

function setTailState(text, kind = '') {
  const node = $('#tail-state');
  node.textContent = text;
  node.dataset.state = kind;
}

async function runTail(tail) {
  let delay = 1000;
  const { signal } = tail.controller;
  while (!signal.aborted) {
    const params = {};
    for (const name of TAIL_FILTERS) if (state.query[name]) params[name] = state.query[name];
    if (tail.lastSeq !== null) params.after_seq = tail.lastSeq;
    setTailState('Connecting…', 'connecting');
    try {
      for await (const message of eventStream('/v1/events/tail', params, { signal })) {
        setTailState('● Live', 'live');
        delay = 1000;
        if (message.comment !== undefined) continue;
        const item = JSON.parse(message.data);
        tail.lastSeq = Number(message.id) || item.seq;
        addLiveRow(item);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (handleAuthError(error)) return;
      if (error instanceof ApiError && error.status < 500) {
        setTailState(`Live tail stopped: ${problemText(error)}`, 'error');
        state.tail = null;
        $('#tail-toggle').checked = false;
        return;
      }
    }
    if (signal.aborted) return;
    setTailState('Reconnecting…', 'connecting');
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15_000);
  }
}

function addLiveRow(item) {
  const body = $('#events-table tbody');
  if (body.querySelector(`tr[data-id="${CSS.escape(item.id)}"]`)) return;
  const row = eventRow(item, true);
  if ((state.query.order || 'desc') === 'desc') body.prepend(row);
  else body.append(row);
  state.items.push(item);
  while (body.children.length > MAX_LIVE_ROWS) body.lastElementChild.remove();
  show('#empty', false);
  say('#summary', `${body.children.length} events shown, live`);
}

// -- admin: dead letters and status --------------------------------------------------------
function scalar(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

async function loadDeadLetters() {
  say('#dead-error', '');
  let body;
  try {
    body = await getJSON('/v1/dead-letters', { limit: 100 });
  } catch (error) {
    if (handleAuthError(error)) return;
    say('#dead-error', error instanceof ApiError && error.status === 404 ? 'This server has no dead-letter API.' : problemText(error));
    return;
  }
  const items = Array.isArray(body) ? body : body.items || [];
  const columns = [];
  for (const item of items) for (const name of Object.keys(item)) if (!columns.includes(name)) columns.push(name);
  $('#dead-table thead').replaceChildren(el('tr', {}, ...columns.map((name) => el('th', { scope: 'col', text: name }))));
  $('#dead-table tbody').replaceChildren(
    ...items.map((item) => el('tr', {}, ...columns.map((name) => el('td', { class: 'mono clip', text: scalar(item[name]), title: scalar(item[name]) })))),
  );
  show('#dead-empty', items.length === 0);
}

async function loadStatus() {
  say('#status-error', '');
  let body;
  try {
    body = await getJSON('/v1/status');
  } catch (error) {
    if (!handleAuthError(error)) say('#status-error', problemText(error));
    return;
  }
  const stats = [
    ['Backlog (lag + pending)', body.backlog],
    ['Dead letters', body.dead_letters],
    ['Workers alive', `${body.workers_alive} of ${body.workers.length}`],
  ];
  $('#status-summary').replaceChildren(
    ...stats.map(([term, value]) => el('div', {}, el('dt', { text: term }), el('dd', { text: String(value) }))),
  );
  $('#status-streams tbody').replaceChildren(
    ...body.streams.map((s) =>
      el('tr', {}, cell(s.stream, 'mono'), cell(String(s.length), 'num'), cell(s.group ? scalar(s.lag) : 'no group', 'num'), cell(scalar(s.pending), 'num'), cell(scalar(s.consumers), 'num')),
    ),
  );
  $('#status-workers tbody').replaceChildren(
    ...body.workers.map((w) => el('tr', {}, cell(w.name, 'mono'), cell(`${w.last_seen_s} s ago`, 'num'), cell(w.alive ? 'alive' : 'gone'))),
  );
}

// -- keyboard and wiring -----------------------------------------------------------------
function typing(target) {
  return target.closest('input, select, textarea, [contenteditable]') !== null;
}

function globalKeys(event) {
  if (event.key === 'Escape' && !$('#detail').hidden) {
    event.preventDefault();
    closeDetail();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || !state.me) return;
  if (state.view !== 'events') return;
  if (event.key === '/') {
    event.preventDefault();
    $('#f-tenant').focus();
  } else if (event.key === 'n') {
    nextPage();
  } else if (event.key === 'p') {
    previousPage();
  } else if (event.key === 't') {
    $('#tail-toggle').click();
  }
}

function report(error) {
  // unexpected failures are shown, not thrown to the console
  say('#filter-error', `Something went wrong: ${error.message}`);
}

function wire() {
  $('#signin-form').addEventListener('submit', (e) => signIn(e).catch(report));
  $('#sign-out').addEventListener('click', signOut);
  $('#filters').addEventListener('submit', applyFilters);
  $('#reset').addEventListener('click', resetFilters);
  $('#next-page').addEventListener('click', nextPage);
  $('#prev-page').addEventListener('click', previousPage);
  $('#first-page').addEventListener('click', firstPage);
  $('#events-table tbody').addEventListener('click', (e) => {
    const row = e.target.closest('tr[data-id]');
    if (row) openDetail(row.dataset.id).catch(report);
  });
  $('#events-table tbody').addEventListener('keydown', rowKeys);
  $('#detail-close').addEventListener('click', () => closeDetail());
  $('#copy-json').addEventListener('click', () => copyJSON().catch(report));
  $('#tail-toggle').addEventListener('change', (e) => (e.target.checked ? startTail() : stopTail()));
  for (const id of ['#export-ndjson', '#export-csv']) $(id).addEventListener('click', exportClick);
  for (const link of document.querySelectorAll('.tabs a')) {
    link.addEventListener('click', (e) => {
      e.preventDefault();
      switchView(link.dataset.view);
    });
  }
  $('#dead-refresh').addEventListener('click', () => loadDeadLetters().catch(report));
  $('#status-refresh').addEventListener('click', () => loadStatus().catch(report));
  document.addEventListener('keydown', globalKeys);
  window.addEventListener('popstate', () => {
    const tail = readURL();
    state.previous = [];
    if (!tail) stopTail(false);
    if (state.me) render().catch(report);
  });
}

async function start() {
  wire();
  const tail = readURL();
  try {
    state.config = await getJSON('/ui/config.json');
  } catch (error) {
    say('#loading', `The server did not answer: ${problemText(error)}`);
    return;
  }
  if (state.config.auth && !session.key) {
    showSignIn('');
    return;
  }
  try {
    await loadMe();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.key = null;
      showSignIn('Your key was refused (revoked or unknown). Sign in again.');
    } else {
      say('#loading', problemText(error));
    }
    return;
  }
  writeURL(true);
  await render();
  if (tail && state.view === 'events') startTail();
}

start().catch(report);
