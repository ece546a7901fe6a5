//! `DAMAGE_PREDICT=1`: each damaged archive is also restored into a real server
//! (the version that made it) through its own restore API, and what the server
//! answered is compared with the restore `verify --json` predicts: fails or not,
//! the error, whether the stream is left, its message count and last sequence.

use crate::common::{self, jsbackup, NatsConn, NatsServer};
use serde_json::{json, Value};
use std::path::Path;

pub struct Checker {
    _server: NatsServer,
    conn: NatsConn,
    version: &'static str,
}

impl Checker {
    pub fn from_env(version: &'static str) -> Option<Checker> {
        std::env::var_os("DAMAGE_PREDICT")?;
        let server = NatsServer::start(version, None);
        let conn = server.connect();
        Some(Checker {
            _server: server,
            conn,
            version,
        })
    }

    /// Restores `dir` and compares; `Err` says how the prediction was wrong.
    pub fn check(&mut self, dir: &Path, stream: &str) -> Result<(), String> {
        let output = jsbackup(&["verify", dir.to_str().expect("path"), "--json"]);
        let answer = common::restore_via_api(&mut self.conn, dir, stream);
        if output.status.code() == Some(2) {
            // Refused: nothing in the file decodes. The server cannot restore it either.
            return match answer {
                Ok(_) => Err(format!(
                    "verify refused it ({}), the server restored it",
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(_) => self.gone(stream),
            };
        }
        let report: Value = serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("verify --json: {error}"))?;
        let prediction = prediction_for(&report, self.version)?;
        let info = self
            .conn
            .api(&format!("$JS.API.STREAM.INFO.{stream}"), &Value::Null)
            .map_err(|error| format!("stream info: {error}"))?;
        let exists = info.get("error").is_none();
        if exists {
            self.conn
                .api_ok(&format!("$JS.API.STREAM.DELETE.{stream}"), &json!({}));
        }
        let mut wrong = Vec::new();
        let predicted_ok = prediction["outcome"] != "fails";
        if predicted_ok != answer.is_ok() {
            wrong.push(format!(
                "predicted {}, the server {}",
                prediction["outcome"],
                match &answer {
                    Ok(_) => "restored it".to_string(),
                    Err(error) => format!("failed: {error}"),
                }
            ));
        }
        if prediction["stream_created"] != exists {
            wrong.push(format!(
                "stream left: predicted {}, is {exists}",
                prediction["stream_created"]
            ));
        }
        if let (Err(said), false) = (&answer, predicted_ok) {
            let predicted = prediction["error"].as_str().unwrap_or_default();
            let said = server_error(said);
            let matches = if prediction["error_exact"] == true {
                predicted == said
            } else {
                said.starts_with(predicted) && predicted.len() > "restore failed: ".len()
            };
            if !matches {
                wrong.push(format!(
                    "error: predicted {predicted:?}, the server said {said:?}"
                ));
            }
        }
        if exists {
            for field in ["messages", "last_seq"] {
                if prediction[field] != info["state"][field] {
                    wrong.push(format!(
                        "{field}: predicted {}, the server holds {}",
                        prediction[field], info["state"][field]
                    ));
                }
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

impl Checker {
    /// No stream may be left by a failed restore.
    fn gone(&mut self, stream: &str) -> Result<(), String> {
        let info = self
            .conn
            .api(&format!("$JS.API.STREAM.INFO.{stream}"), &Value::Null)
            .map_err(|error| format!("stream info: {error}"))?;
        if info.get("error").is_some() {
            return Ok(());
        }
        self.conn
            .api_ok(&format!("$JS.API.STREAM.DELETE.{stream}"), &json!({}));
        Err("the failed restore left a stream".into())
    }
}

/// The prediction covering `version` (v1 archives have one for every server).
fn prediction_for<'a>(report: &'a Value, version: &str) -> Result<&'a Value, String> {
    let predictions = report["restore_prediction"]
        .as_array()
        .ok_or("no restore_prediction")?;
    predictions
        .iter()
        .find(|p| {
            report["format"] == "v1"
                || p["servers"]
                    .as_array()
                    .is_some_and(|servers| servers.iter().any(|v| v == version))
        })
        .ok_or_else(|| format!("no prediction for {version}"))
}

/// The server's own words in a failed restore (its JSON error's description).
fn server_error(failure: &str) -> String {
    let json_at = failure.find('{');
    json_at
        .and_then(|at| serde_json::from_str::<Value>(&failure[at..]).ok())
        .and_then(|value| value["error"]["description"].as_str().map(str::to_string))
        .unwrap_or_else(|| failure.to_string())
}
