//! The HTTP client for every request the server makes to the outside (webhooks, the SMS gateway,
//! the S3 object store): redirects are never followed. A redirect would send a signed body, a
//! gateway key or a photo to an address nobody configured; a 3xx answer is a failure, and says so.

use std::time::Duration;

/// A client that does not follow redirects and gives up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build()
}

/// Why an answer that is not a success failed: `who` (`the receiver`, `the gateway`) answered its
/// status, and for a redirect, where it pointed, which was not followed.
pub fn refusal(who: &str, r: &reqwest::Response) -> String {
    let status = r.status();
    if status.is_redirection() {
        let to = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("nowhere");
        // The location is the other side's text: a bounded, printable excerpt.
        let to: String = to.chars().filter(|c| !c.is_control()).take(200).collect();
        format!("{who} answered {status}, a redirect to {to}: redirects are not followed")
    } else {
        format!("{who} answered {status}")
    }
}
