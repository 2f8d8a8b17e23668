// The web UI: one HTML page and one script (no framework, no inline script: the CSP allows only 'self').
// The script polls /api/state and renders; actions POST with the per-run secret in X-Postern-Secret.

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

export function pageHtml(secret: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="postern-secret" content="${esc(secret)}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Postern</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2430}
header{background:#1d2430;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0}
#status{font-size:14px;padding:2px 10px;border-radius:10px;background:#556}
#status[data-state=Connected]{background:#1f8a4c}#status[data-state=Connecting],#status[data-state=WaitingForNetwork]{background:#b07a12}
main{max-width:860px;margin:0 auto;padding:16px 20px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin-bottom:14px;box-shadow:0 1px 2px #0002}
h2{font-size:15px;margin:0 0 10px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;font-size:14px}
button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #99a;background:#fff;cursor:pointer}
button.primary{background:#2450c8;color:#fff;border-color:#2450c8}
label{display:block;margin:6px 0}input[type=text],input[type=url]{width:100%;max-width:480px;padding:5px;font:inherit}
#error{color:#b00020}#notice{color:#1f6a3c}.muted{color:#667}
</style></head>
<body>
<header><h1>Postern</h1><span id="status" data-state="Idle">Idle</span><span id="who" class="muted"></span></header>
<main>
<p id="error" role="alert"></p><p id="notice" role="status"></p>
<section id="signed-out" hidden><h2>Sign in</h2><p>Sign in through your organisation's portal to reach its resources.</p>
<button id="sign-in" class="primary">Sign in</button></section>
<section id="signed-in" hidden>
<h2>Resources</h2>
<label><input type="checkbox" id="internet"> Route all Internet traffic through Postern (Internet resource)</label>
<table id="resources"><thead><tr><th>Name</th><th>Address</th><th>Site status</th><th></th></tr></thead><tbody></tbody></table>
<p class="muted" id="no-resources" hidden>No resources.</p>
<p><button id="sign-out">Sign out</button></p>
</section>
<section id="settings"><h2>Settings</h2>
<form id="settings-form">
<label>Portal URL <input type="url" id="portal-url" name="portalUrl" required></label>
<label>Log filter <input type="text" id="log-filter" name="logFilter" required></label>
<button type="submit" id="save-settings">Save</button>
</form></section>
<section id="diagnostics"><h2>Diagnostics</h2>
<a id="export-logs" href="/api/logs.zip" download>Export logs (zip)</a> · <button id="clear-logs">Clear logs</button></section>
<section id="about"><h2>About</h2><p id="about-text" class="muted"></p></section>
</main>
<script src="/app.js"></script>
</body></html>`;
}

export const APP_JS = `'use strict';
const secret = document.querySelector('meta[name=postern-secret]').content;
const $ = (id) => document.getElementById(id);
let last = null;
let editingSettings = false;
async function post(path, body) {
  const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postern-secret': secret }, body: JSON.stringify(body || {}) });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
  return j;
}
function siteStatus(r) {
  if (r.status === 'connected') return 'Online';
  if (r.status === 'connecting') return 'Connecting';
  return 'Unknown';
}
function render(v) {
  last = v;
  const status = v.service === 'connected' ? v.session : 'Service unavailable';
  $('status').textContent = status; $('status').dataset.state = v.service === 'connected' ? v.session : 'Unavailable';
  $('who').textContent = v.signedIn ? ('Signed in' + (v.actorName ? ' as ' + v.actorName : '') + (v.accountSlug ? ' (' + v.accountSlug + ')' : '')) : '';
  $('error').textContent = v.error || '';
  $('notice').textContent = v.notice || '';
  $('signed-out').hidden = v.signedIn; $('signed-in').hidden = !v.signedIn;
  $('internet').checked = v.internetResourceActive;
  const tbody = $('resources').querySelector('tbody');
  tbody.replaceChildren();
  const list = v.resources.filter((r) => r.type !== 'internet');
  $('no-resources').hidden = list.length > 0;
  for (const r of list) {
    const tr = document.createElement('tr'); tr.dataset.resource = r.name;
    const name = document.createElement('td'); name.textContent = r.name;
    const addr = document.createElement('td'); addr.textContent = r.address || ''; addr.className = 'address';
    const st = document.createElement('td'); st.textContent = siteStatus(r); st.className = 'site-status';
    const act = document.createElement('td'); const b = document.createElement('button'); b.textContent = 'Copy address'; b.className = 'copy';
    b.onclick = async () => { await copy(r.address || ''); b.textContent = 'Copied'; setTimeout(() => { b.textContent = 'Copy address'; }, 1500); };
    act.append(b); tr.append(name, addr, st, act); tbody.append(tr);
  }
  if (!editingSettings) { $('portal-url').value = v.portalUrl; $('log-filter').value = v.settings.logFilter; }
  $('about-text').textContent = 'postern-gui ' + v.version + (v.serviceVersion ? ' · tunnel service ' + v.serviceVersion : '') + (v.deviceId ? ' · device ' + v.deviceId.slice(0, 12) : '');
}
async function copy(text) {
  try { await navigator.clipboard.writeText(text); window.lastCopied = text; return; } catch (e) { /* fall back */ }
  const t = document.createElement('textarea'); t.value = text; document.body.append(t); t.select(); document.execCommand('copy'); t.remove(); window.lastCopied = text;
}
async function refresh() {
  try { const r = await fetch('/api/state'); if (r.ok) render(await r.json()); } catch (e) { $('error').textContent = 'postern-gui is not running'; }
}
$('sign-in').onclick = async () => { const { url } = await post('/api/sign-in'); location.href = url; };
$('sign-out').onclick = async () => { render(await post('/api/sign-out')); };
$('clear-logs').onclick = async () => { render(await post('/api/clear-logs')); };
$('internet').onchange = async (e) => { render(await post('/api/internet', { active: e.target.checked })); };
$('portal-url').onfocus = $('log-filter').onfocus = () => { editingSettings = true; };
$('settings-form').onsubmit = async (e) => {
  e.preventDefault();
  try { render(await post('/api/settings', { portalUrl: $('portal-url').value, logFilter: $('log-filter').value })); editingSettings = false; }
  catch (err) { $('error').textContent = err.message; }
};
refresh(); setInterval(refresh, 500);
`;
