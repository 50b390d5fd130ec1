// Answers the dev authorization server's consent page over plain HTTP, the way a
// browser submits the form: GET the authorization URL, read the form's action
// and fields from the HTML, POST the chosen button, and return the redirect.

function unescapeHtml(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attributes(tag) {
  const attrs = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    attrs[m[1].toLowerCase()] = unescapeHtml(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/**
 * Parses the consent page: the form's method and action, the fields a browser
 * would submit (inputs with a name), and the submit buttons.
 */
export function parseConsentForm(html) {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no <form> in the consent page:\n${html.slice(0, 2000)}`);
  const formAttrs = attributes(form[1]);
  const fields = {};
  for (const m of form[2].matchAll(/<input\b([^>]*)>/gi)) {
    const a = attributes(m[1]);
    if (!a.name || a.type === 'submit' || a.type === 'button') continue;
    fields[a.name] = a.value ?? '';
  }
  const buttons = [];
  for (const m of form[2].matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)) {
    const a = attributes(m[1]);
    buttons.push({ name: a.name, value: a.value, label: m[2].replace(/<[^>]*>/g, '').trim() });
  }
  return { method: (formAttrs.method ?? 'get').toLowerCase(), action: formAttrs.action ?? '', fields, buttons };
}

/**
 * Opens `authorizationUrl`, presses the button labelled `choice` ("Approve" or
 * "Deny") and returns the parsed redirect (`Location`) the server answers with.
 *
 * @returns {Promise<{ location: URL, page: string, form: ReturnType<typeof parseConsentForm> }>}
 */
export async function answerConsent(authorizationUrl, choice = 'Approve') {
  const pageResponse = await fetch(authorizationUrl, { redirect: 'manual' });
  const page = await pageResponse.text();
  if (pageResponse.status !== 200) {
    const where = pageResponse.headers.get('location');
    throw new Error(`consent page answered ${pageResponse.status}${where ? ` → ${where}` : ''}: ${page.slice(0, 1000)}`);
  }
  const form = parseConsentForm(page);
  if (form.method !== 'post') throw new Error(`consent form method is ${form.method}, expected post`);
  const button = form.buttons.find((b) => b.label === choice);
  if (!button) throw new Error(`no "${choice}" button in the consent form: ${JSON.stringify(form.buttons)}`);

  const body = new URLSearchParams(form.fields);
  if (button.name) body.append(button.name, button.value ?? '');
  const action = new URL(form.action, authorizationUrl);
  const decision = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    // A same-origin form post's Origin. (Chromium actually sends `Origin: null`
    // here because the page sets Referrer-Policy: no-referrer; see
    // tests/browser-consent.test.mjs, which drives a real browser.)
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: action.origin },
    body,
  });
  const location = decision.headers.get('location');
  if (decision.status < 300 || decision.status >= 400 || !location) {
    throw new Error(`consent decision answered ${decision.status} without a redirect: ${await decision.text()}`);
  }
  await decision.body?.cancel();
  return { location: new URL(location, action), page, form };
}
