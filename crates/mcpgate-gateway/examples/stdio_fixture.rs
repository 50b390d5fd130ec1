//! The gateway tests' stdio upstream: an mcpgate server over stdio whose
//! tools reveal which process answers (`pid`), keep per-process state
//! (`incr`), write to stderr (`shout`), report progress (`progress`), wait
//! until cancelled (`wait`, counted by `cancellations`), ask the client's
//! model (`sample`), list the client's roots (`roots`), ask for both at once
//! under keys of its own (`ask_two`), tell which client capabilities it sees
//! (`declared`) and crash (`crash`).

use std::sync::atomic::{AtomicU64, Ordering};

use mcpgate::{Args, CallError, Context, InputKind, InputRequest, LogLevel, McpServer};

static COUNTER: AtomicU64 = AtomicU64::new(0);
static CANCELLED: AtomicU64 = AtomicU64::new(0);

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Text {
    /// What to write.
    text: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), mcpgate::ServeError> {
    McpServer::new("stdio fixture")
        .tool("pid", "The process id of this server", || async {
            std::process::id().to_string()
        })
        .tool("incr", "Increments this process's counter", || async {
            (COUNTER.fetch_add(1, Ordering::SeqCst) + 1).to_string()
        })
        .tool(
            "shout",
            "Writes text to stderr",
            |Args(t): Args<Text>| async move {
                eprintln!("{}", t.text);
                "written".to_owned()
            },
        )
        .tool(
            "progress",
            "Reports progress twice and logs",
            |cx: Context| async move {
                cx.progress(1.0, Some(2.0), Some("half")).await;
                cx.log(LogLevel::Info, "from the fixture").await;
                cx.progress(2.0, Some(2.0), Some("done")).await;
                "finished".to_owned()
            },
        )
        .tool(
            "wait",
            "Reports that it started, then waits until cancelled",
            |cx: Context| async move {
                cx.progress(0.0, None, Some("waiting")).await;
                cx.cancelled().await;
                CANCELLED.fetch_add(1, Ordering::SeqCst);
                "cancelled".to_owned()
            },
        )
        .tool(
            "cancellations",
            "How many `wait` calls were cancelled",
            || async { CANCELLED.load(Ordering::SeqCst).to_string() },
        )
        .tool(
            "sample",
            "Asks the client's model",
            |cx: Context| async move {
                match cx.sample("Say something.", 20).await {
                    Ok(text) => format!("sampled: {text}"),
                    Err(e) => format!("sampling failed: {e}"),
                }
            },
        )
        .tool(
            "roots",
            "Lists the client's roots",
            |cx: Context| async move {
                match cx.list_roots().await {
                    Ok(roots) => {
                        let uris: Vec<String> = roots.into_iter().map(|r| r.uri).collect();
                        format!("roots: {}", uris.join(", "))
                    }
                    Err(e) => format!("roots failed: {e}"),
                }
            },
        )
        .tool(
            "ask_two",
            "Asks the client's model and its roots in one round",
            |cx: Context| async move {
                let answers = cx
                    .ask([
                        ("model_says", InputRequest::sample("Say something.", 20)),
                        ("where", InputRequest::list_roots()),
                    ])
                    .await?;
                Ok::<_, CallError>(format!(
                    "model: {}; roots: {}",
                    answers["model_says"].sampled_text()?,
                    answers["where"].roots()?.len()
                ))
            },
        )
        .tool(
            "declared",
            "The client capabilities this server sees for the call",
            |cx: Context| async move {
                let kinds = [
                    (InputKind::Sampling, "sampling"),
                    (InputKind::Elicitation, "elicitation"),
                    (InputKind::Roots, "roots"),
                ];
                let seen: Vec<&str> = kinds
                    .into_iter()
                    .filter(|(kind, _)| cx.client_supports(*kind))
                    .map(|(_, name)| name)
                    .collect();
                seen.join(",")
            },
        )
        .tool("crash", "Exits the process mid-call", || async {
            std::process::exit(3);
            #[allow(unreachable_code)]
            String::new()
        })
        .serve_stdio()
        .await?;
    // FIXTURE_IGNORE_EOF=1: a server that does not exit when its stdin
    // closes, to prove the gateway stops such children itself.
    if std::env::var_os("FIXTURE_IGNORE_EOF").is_some() {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    Ok(())
}
