//! Server-rendered HTML: the consent page and the error page shown when an
//! authorization request cannot safely be redirected back to the client.
//!
//! Inline CSS only and no script, so the pages can ship a strict
//! Content-Security-Policy. Every caller-supplied value goes through [`escape`].

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The name of the checkbox of the requested scope at index `i` is
/// `{GRANT_PREFIX}{i}`; its value is the scope.
pub(crate) const GRANT_PREFIX: &str = "grant_scope_";

/// A hidden field saying the form carried the scope checkboxes. A browser
/// sends only the checked boxes, so without this marker "every box
/// unticked" and "a client that posts only the decision" would look alike;
/// the latter is granted every requested scope, as before checkboxes.
pub(crate) const SELECTION_FIELD: &str = "scope_selection";

/// What the consent page shows.
#[derive(Debug)]
pub(crate) struct ConsentView<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) client_id: &'a str,
    /// Where the browser goes afterwards: a host, or a scheme for native apps.
    pub(crate) redirect_target: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) resource: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) csrf_token: &'a str,
    pub(crate) action: &'a str,
    /// The client is described by a metadata document hosted at this host.
    pub(crate) metadata_host: Option<&'a str>,
}

/// HTML-escapes text for element content and double- or single-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn scope_description(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are".to_owned(),
        "profile" => "See your name and basic profile".to_owned(),
        "email" => "See your email address".to_owned(),
        "offline_access" => "Stay connected when you are away (refresh tokens)".to_owned(),
        s if s.starts_with("mcp:") => {
            format!("Use the MCP server's {}", escape(&s["mcp:".len()..]))
        }
        s => format!("Access granted by the <code>{}</code> scope", escape(s)),
    }
}

const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#f4f5f9;--card:#fff;--text:#141824;--muted:#5d6478;--line:#e4e7ef;
--accent:#4f46e5;--accent-text:#fff;--chip:#eef0fb;--warn-bg:#fff7e6;--warn:#8a5a00;--danger:#b42318}
@media (prefers-color-scheme:dark){:root{--bg:#0e1117;--card:#171b24;--text:#e8eaf1;--muted:#9aa3b5;
--line:#272d3a;--accent:#818cf8;--accent-text:#0e1117;--chip:#222838;--warn-bg:#2a2213;--warn:#f5c46b;--danger:#f97066}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:24px;
background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
.card{width:100%;max-width:440px;background:var(--card);border:1px solid var(--line);border-radius:16px;
box-shadow:0 1px 2px rgba(16,24,40,.06),0 12px 32px rgba(16,24,40,.08);padding:32px}
.brand{display:flex;align-items:center;gap:8px;font-weight:600;font-size:14px;color:var(--muted);margin-bottom:24px}
.mark{width:22px;height:22px;border-radius:6px;background:linear-gradient(135deg,var(--accent),#06b6d4)}
.badge{font-size:11px;font-weight:600;letter-spacing:.04em;text-transform:uppercase;padding:2px 8px;border-radius:999px;
background:var(--warn-bg);color:var(--warn)}
h1{font-size:21px;line-height:1.3;margin:0 0 6px;font-weight:650}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);margin:24px 0 10px;font-weight:600}
.sub{color:var(--muted);margin:0;font-size:14px;word-break:break-all}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--chip);padding:1px 6px;border-radius:6px}
ul{list-style:none;margin:0;padding:0;border:1px solid var(--line);border-radius:12px}
li{padding:12px 14px;border-top:1px solid var(--line);display:flex;flex-direction:column;gap:2px}
li:first-child{border-top:0}
.grant{display:flex;flex-direction:row;align-items:flex-start;gap:10px;margin:0;font-weight:400;font-size:inherit;cursor:pointer}
.grant .text{display:flex;flex-direction:column;gap:2px}
input[type=checkbox]{margin:3px 0 0;width:16px;height:16px;accent-color:var(--accent)}
.scope{font-weight:600;font-size:14px}.desc{color:var(--muted);font-size:13px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 16px;margin:20px 0 0;font-size:14px}
dt{color:var(--muted)}dd{margin:0;word-break:break-all}
label{display:block;font-weight:600;font-size:14px;margin:24px 0 6px}
input[type=text]{width:100%;padding:10px 12px;border:1px solid var(--line);border-radius:10px;font:inherit;
background:var(--card);color:var(--text)}
input[type=text]:focus{outline:2px solid var(--accent);outline-offset:1px}
.hint{color:var(--muted);font-size:12px;margin:6px 0 0}
.notice{margin-top:20px;padding:10px 12px;border-radius:10px;background:var(--warn-bg);color:var(--warn);font-size:13px}
.actions{display:flex;flex-direction:row-reverse;gap:12px;margin-top:28px}
button{flex:1;padding:11px 16px;border-radius:10px;font:inherit;font-weight:600;cursor:pointer;border:1px solid transparent}
.primary{background:var(--accent);color:var(--accent-text)}.primary:hover{filter:brightness(1.08)}
.secondary{background:transparent;color:var(--text);border-color:var(--line)}.secondary:hover{background:var(--chip)}
.error h1{color:var(--danger)}
footer{margin-top:24px;color:var(--muted);font-size:12px;text-align:center}
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\"><title>{title}</title><style>{STYLE}</style></head>\
         <body>{body}</body></html>\n",
        title = escape(title),
    )
}

const BRAND: &str = "<div class=\"brand\"><span class=\"mark\"></span>mcpgate<span class=\"badge\">dev server</span></div>";

/// The consent page.
pub(crate) fn render_consent(v: &ConsentView<'_>) -> String {
    let mut scopes = String::new();
    if v.scopes.is_empty() {
        scopes.push_str("<li><span class=\"scope\">Basic access</span><span class=\"desc\">No specific permissions were requested</span></li>");
    }
    for (i, s) in v.scopes.iter().enumerate() {
        // One checkbox per scope, each with its own name: form parsers that
        // keep one value per name (and this server, which refuses repeated
        // parameters) see every box. Checked by default, so approving
        // without touching them grants what was asked for.
        // Infallible: writing to a String.
        let _ = write!(
            scopes,
            "<li><label class=\"grant\"><input type=\"checkbox\" name=\"{GRANT_PREFIX}{i}\" value=\"{scope}\" checked>\
             <span class=\"text\"><span class=\"scope\">{scope}</span><span class=\"desc\">{desc}</span></span></label></li>",
            scope = escape(s),
            desc = scope_description(s)
        );
    }
    let origin = match v.metadata_host {
        Some(host) => format!(
            "<dt>Client metadata</dt><dd>hosted at <code>{}</code></dd>",
            escape(host)
        ),
        None => String::new(),
    };
    let body = format!(
        "<main class=\"card\">{BRAND}\
         <h1><strong>{name}</strong> wants to access your MCP server</h1>\
         <p class=\"sub\">Client ID <code>{client_id}</code></p>\
         <form method=\"post\" action=\"{action}\">\
         <h2>This will allow it to</h2><ul>{scopes}</ul>{untick}\
         <dl><dt>Server</dt><dd><code>{resource}</code></dd>\
         <dt>Returns to</dt><dd><code>{redirect}</code></dd>{origin}</dl>\
         <div class=\"notice\">Only approve if you started this sign-in from {name}.</div>\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"{SELECTION_FIELD}\" value=\"1\">\
         <label for=\"subject\">Sign in as</label>\
         <input type=\"text\" id=\"subject\" name=\"subject\" value=\"{subject}\" maxlength=\"200\" autocomplete=\"off\" spellcheck=\"false\">\
         <p class=\"hint\">Development server: any user id or email address is accepted and becomes the token's <code>sub</code>.</p>\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary\" autofocus>Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         </div></form>\
         <footer>Local development authorization server. Not for production use.</footer></main>",
        name = escape(v.client_name),
        client_id = escape(v.client_id),
        resource = escape(v.resource),
        redirect = escape(v.redirect_target),
        action = escape(v.action),
        csrf = escape(v.csrf_token),
        subject = escape(v.subject),
        untick = if v.scopes.is_empty() {
            ""
        } else {
            "<p class=\"hint\">Untick a permission to leave it out of the token.</p>"
        },
    );
    page(&format!("Authorize {}", v.client_name), &body)
}

/// An error page: the request cannot be sent back to the client.
pub(crate) fn render_error(title: &str, detail: &str) -> String {
    let body = format!(
        "<main class=\"card error\">{BRAND}<h1>{title}</h1><p class=\"sub\">{detail}</p>\
         <footer>The application that sent you here made an invalid request. You can close this page.</footer></main>",
        title = escape(title),
        detail = escape(detail),
    );
    page(title, &body)
}

/// Wraps a page with headers that forbid framing (clickjacking an Approve
/// button), caching and sniffing. `form-action` is deliberately absent: browsers
/// apply it to the redirect that follows the form post, and the redirect URI may
/// be any origin or a native app's scheme.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send
    // `Origin: null` with the consent form, which the Origin check must refuse.
    // Cross-site requests (the redirect back to the client) still get no Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error page response.
pub(crate) fn error_response(status: StatusCode, title: &str, detail: &str) -> Response {
    html_response(status, render_error(title, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_are_escaped() {
        let scopes = vec!["<s>".to_owned()];
        let html = render_consent(&ConsentView {
            client_name: "<script>alert(1)</script>",
            client_id: "m2m_1\"onload=\"x",
            redirect_target: "a'b",
            scopes: &scopes,
            resource: "http://127.0.0.1/mcp",
            subject: "usr_1",
            csrf_token: "tok",
            action: "/oauth/authorize/decision",
            metadata_host: None,
        });
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("m2m_1&quot;onload=&quot;x"));
        assert!(html.contains("a&#39;b"));
        assert!(!html.contains("<s>"));
        assert!(html.contains(
            "<input type=\"checkbox\" name=\"grant_scope_0\" value=\"&lt;s&gt;\" checked>"
        ));
    }
}
