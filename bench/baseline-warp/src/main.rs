//! Serves `GET /health/live` with a small JSON body, nothing else: the ceiling that
//! healthmon's probe endpoints are compared with. Prints `addr=IP:PORT` on stdout.
use warp::Filter;

#[tokio::main]
async fn main() {
    let started = std::time::Instant::now();
    let live = warp::get().and(warp::path!("health" / "live")).map(move || {
        warp::reply::json(&serde_json::json!({
            "status": "alive",
            "alive": true,
            "uptime_seconds": started.elapsed().as_secs(),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("addr={}", listener.local_addr().expect("addr"));
    warp::serve(live).incoming(listener).run().await;
}
