//! `http` conditions on JSON bodies, and basic and bearer auth, against a local server.

use crate::helpers::*;
use warp::Filter;

/// 200 "hi" when the Authorization header is `expected`, 401 otherwise.
fn guarded(
    expected: &'static str,
) -> impl warp::Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization").map(move |auth: Option<String>| {
        let status = if auth.as_deref() == Some(expected) {
            warp::http::StatusCode::OK
        } else {
            warp::http::StatusCode::UNAUTHORIZED
        };
        warp::reply::with_status("hi", status)
    })
}

async fn api_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let status = warp::path!("status").map(|| {
        warp::reply::json(&serde_json::json!({"status": "UP", "workers": 3, "db": {"ok": true}}))
    });
    // "monitor:s3cret"
    let basic = warp::path!("basic").and(guarded("Basic bW9uaXRvcjpzM2NyZXQ="));
    let bearer = warp::path!("bearer").and(guarded("Bearer t0ken-t0ken"));
    serve(status.or(basic).or(bearer)).await
}

/// Serves `routes` on a free loopback port.
async fn serve<F>(routes: F) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>)
where
    F: Filter<Error = warp::Rejection> + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(warp::serve(routes).incoming(listener).run()),
    )
}

fn http_check(url: &str, extra: &str) -> String {
    format!("[[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"{url}\"\n{extra}")
}

#[tokio::test]
async fn json_conditions_compare_the_value_at_a_path() {
    let (addr, _server) = api_server().await;
    let url = format!("http://{addr}/status");
    for extra in [
        "json_path = \"$.status\"\nexpect = \"UP\"",
        "json_path = \"$.workers\"\nexpect = 3",
        "json_path = \"$.db.ok\"\nexpect = true",
    ] {
        let (code, body) = check_now(&http_check(&url, extra)).await;
        assert_eq!(code, 0, "{extra}: {body}");
    }
    let (_, body) = check_now(&http_check(
        &url,
        "json_path = \"$.status\"\nexpect = \"DOWN\"",
    ))
    .await;
    assert_eq!(
        body["checks"]["api"]["message"],
        "$.status is \"UP\", expected \"DOWN\""
    );
    assert_eq!(body["checks"]["api"]["observed"]["json_value"], "UP");
    let (_, body) = check_now(&http_check(&url, "json_path = \"$.missing\"\nexpect = 1")).await;
    assert!(
        body["checks"]["api"]["message"]
            .as_str()
            .unwrap()
            .contains("matches nothing"),
        "{body}"
    );
}

#[tokio::test]
async fn basic_and_bearer_auth_are_sent_and_their_secrets_kept() {
    let (addr, _server) = api_server().await;
    let basic = |password: &str| {
        http_check(
            &format!("http://{addr}/basic"),
            &format!("basic_auth = {{ username = \"monitor\", password = \"{password}\" }}"),
        )
    };
    assert_eq!(check_now(&basic("s3cret")).await.0, 0);
    let (_, body) = check_now(&basic("Canary-Pa55word")).await;
    assert!(
        body["checks"]["api"]["message"]
            .as_str()
            .unwrap()
            .contains("401"),
        "{body}"
    );
    let bearer = |token: &str| {
        http_check(
            &format!("http://{addr}/bearer"),
            &format!("bearer_token = \"{token}\""),
        )
    };
    assert_eq!(check_now(&bearer("t0ken-t0ken")).await.0, 0);
    assert_eq!(
        check_now(&bearer("nope-nope")).await.1["checks"]["api"]["status"],
        "unhealthy"
    );
}

/// `/old` redirects to `/new` (200 "arrived"), `/loop` to itself.
async fn redirecting_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let redirect = |to: &'static str| {
        warp::reply::with_header(
            warp::http::StatusCode::FOUND,
            warp::http::header::LOCATION,
            to,
        )
    };
    let old = warp::path!("old").map(move || redirect("/new"));
    let new = warp::path!("new").map(|| "arrived");
    let looping = warp::path!("loop").map(move || redirect("/loop"));
    serve(old.or(new).or(looping)).await
}

#[tokio::test]
async fn redirects_are_followed_unless_switched_off_and_a_loop_is_unhealthy() {
    let (addr, _server) = redirecting_server().await;
    let old = format!("http://{addr}/old");

    // Followed by default: the body condition sees the page redirected to.
    let (code, body) = check_now(&http_check(&old, "body_contains = \"arrived\"")).await;
    assert_eq!(code, 0, "{body}");
    assert_eq!(body["checks"]["api"]["observed"]["status_code"], 200);

    // Not followed: the 302 itself is judged, against the accepted codes.
    let not_followed = "follow_redirects = false\nexpect_status = [200]";
    let (code, body) = check_now(&http_check(&old, not_followed)).await;
    assert_eq!(code, 1, "{body}");
    assert_eq!(body["checks"]["api"]["observed"]["status_code"], 302);
    assert_eq!(
        body["checks"]["api"]["message"],
        "unexpected status 302 Found (expected 200)"
    );
    let (code, _) = check_now(&http_check(&old, "follow_redirects = false")).await;
    assert_eq!(code, 0, "3xx is accepted by default");

    // A redirect loop ends after 10 hops as a failure that says so.
    let (_, body) = check_now(&http_check(&format!("http://{addr}/loop"), "")).await;
    assert_eq!(body["checks"]["api"]["status"], "unhealthy", "{body}");
    let message = body["checks"]["api"]["message"].as_str().unwrap();
    assert!(message.contains("redirect"), "{message}");
}
