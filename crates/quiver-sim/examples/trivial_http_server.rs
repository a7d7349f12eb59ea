//! A trivial `POST /get-online-features` server that answers at once with a
//! fixed body, for measuring the load generator's own ceiling over HTTP:
//!
//! ```sh
//! cargo run --release -p quiver-sim --example trivial_http_server -- 127.0.0.1:6599
//! quiver simulate --target http --url http://127.0.0.1:6599 --ids-from ids.txt \
//!     --features v:f --workers 32 --duration 10s
//! ```
//!
//! `BODY_FILE` sends that file's bytes instead of the small built-in answer
//! (benches/serve/nginx.sh gives it Quiver's own answer, to measure the
//! floor of the HTTP stack Quiver's server is built on); `SERVER_THREADS`
//! sets the Tokio workers (default 1).

use axum::body::Bytes;
use axum::response::IntoResponse;

const BODY: &str = r#"{"metadata":{"feature_names":["id","f"]},"results":[{"values":["x"],"statuses":["PRESENT"]},{"values":[1.0],"statuses":["PRESENT"]}]}"#;

async fn answer(_body: Bytes) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        ANSWER
            .get()
            .cloned()
            .unwrap_or(Bytes::from_static(BODY.as_bytes())),
    )
}

/// The answer from `BODY_FILE`, read once at start.
static ANSWER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();

fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6599".to_string());
    let threads = std::env::var("SERVER_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    if let Ok(path) = std::env::var("BODY_FILE") {
        match std::fs::read(&path) {
            Ok(bytes) => ANSWER.set(Bytes::from(bytes)).expect("set once, here"),
            Err(error) => {
                eprintln!("cannot read BODY_FILE {path}: {error}");
                std::process::exit(1);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    runtime.block_on(async {
        let app = axum::Router::new().route("/get-online-features", axum::routing::post(answer));
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .expect("the address is free");
        eprintln!("listening on http://{address}");
        axum::serve(listener, app).await.expect("the server runs");
    });
}
