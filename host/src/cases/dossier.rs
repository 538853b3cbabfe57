//! The electronic case file (电子卷宗): every document, piece of evidence, form, assessment, decision
//! and record entry of a case, listed with its hash, and exported as one ZIP archive with an index
//! (`index.html` for people, `index.json` for machines) that a reviewing body can check file by file.

use super::documents::esc;
use super::store;
use crate::api_error::ApiError;
use crate::auth::Principal;
use crate::server::AppState;
use crate::store::{StoreError, rfc3339};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;

/// The case file's index.
pub async fn index(state: &AppState, caller: &Principal, id: i64) -> Result<Value, ApiError> {
    let (k, _) = super::workflow::visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let documents: Vec<Value> = store::documents(&mut c, k.id)
        .await?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"file": format!("documents/{:02}-{}.html", i + 1, d.kind), "kind": d.kind, "number": d.number, "title": d.title,
                   "sha256": d.sha256, "created_at": rfc3339(d.created_at), "created_by": d.created_by})
        })
        .collect();
    let evidence: Vec<Value> = store::evidence(&mut c, k.id)
        .await?
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let file = e.object_key.as_ref().map(|_| format!("evidence/{:02}-{}", i + 1, safe_name(e.file_name.as_deref().unwrap_or("file"))));
            json!({"file": file, "kind": e.kind, "description": e.description, "sha256": e.sha256, "media_type": e.media_type,
                   "form": e.form, "recorded_by": e.recorded_by, "recorded_at": rfc3339(e.recorded_at)})
        })
        .collect();
    let report = match k.report_id {
        Some(r) => crate::intake::store::by_id(&mut c, r).await?.map(|r| {
            json!({"number": r.id, "received_at": rfc3339(r.created_at), "description": r.description,
                   "category": r.category, "address": r.address})
        }),
        None => None,
    };
    let record = super::audit::of_case(&mut c, k.id).await?;
    Ok(json!({
        "case": {"number": k.number, "title": k.title, "domain": k.domain, "plugin_version": k.plugin_version, "pinned": k.pinned_reason,
                 "stage": k.stage, "party": k.party, "act_date": k.act_date, "act_end_date": k.act_end_date, "place": k.place,
                 "summary": k.summary, "opened_at": rfc3339(k.opened_at), "source": k.source, "referral": k.referral},
        "report": report,
        "forms": {"case_facts": {"item": k.item_code, "values": k.facts}},
        "proposal": k.proposal,
        "decision": k.progress.decision,
        "progress": k.progress,
        "documents": documents,
        "evidence": evidence,
        "assessments": store::assessments(&mut c, k.id).await?,
        "approvals": store::steps(&mut c, k.id).await?,
        "measures": store::measures(&mut c, k.id).await?,
        "record": record,
    }))
}

fn safe_name(s: &str) -> String {
    s.chars().map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).take(80).collect()
}

fn zip_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "archive", e.to_string())
}

/// The whole case file as one ZIP archive: (file name, bytes).
pub async fn archive(state: &AppState, caller: &Principal, id: i64) -> Result<(String, Vec<u8>), ApiError> {
    let mut index = index(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let docs = store::documents(&mut c, id).await?;
    let evidence = store::evidence(&mut c, id).await?;
    drop(c);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (d, entry) in docs.iter().zip(index["documents"].as_array().cloned().unwrap_or_default()) {
        files.push((entry["file"].as_str().unwrap_or("documents/x.html").to_string(), d.html.clone().into_bytes()));
    }
    for (e, entry) in evidence.iter().zip(index["evidence"].as_array().cloned().unwrap_or_default()) {
        if let (Some(key), Some(name)) = (&e.object_key, entry["file"].as_str()) {
            let bytes = state.intake.objects.get(key).await.map_err(crate::intake::objects::unavailable)?;
            files.push((name.to_string(), bytes));
        }
    }
    // Every file's hash in the index, so the archive checks itself.
    let hashes: Vec<Value> = files
        .iter()
        .map(|(n, b)| json!({"file": n, "sha256": hex::encode(Sha256::digest(b)), "bytes": b.len()}))
        .collect();
    index["files"] = json!(hashes);
    let number = index["case"]["number"].as_str().unwrap_or("case").to_string();
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>电子卷宗 {n}</title></head><body>\
         <h1>电子卷宗目录</h1><p>案号：{n}　案由：{t}　当事人：{p}</p><h2>文书</h2><ol>",
        n = esc(&number),
        t = esc(index["case"]["title"].as_str().unwrap_or("")),
        p = esc(index["case"]["party"]["name"].as_str().unwrap_or(""))
    );
    for d in index["documents"].as_array().into_iter().flatten() {
        html.push_str(&format!(
            "<li><a href=\"{f}\">{t}（{n}）</a> sha256 {h}</li>",
            f = esc(d["file"].as_str().unwrap_or("")),
            t = esc(d["title"].as_str().unwrap_or("")),
            n = esc(d["number"].as_str().unwrap_or("")),
            h = esc(d["sha256"].as_str().unwrap_or(""))
        ));
    }
    html.push_str("</ol><h2>证据</h2><ol>");
    for e in index["evidence"].as_array().into_iter().flatten() {
        let link = e["file"].as_str().map(|f| format!(" <a href=\"{}\">{}</a>", esc(f), esc(f))).unwrap_or_default();
        html.push_str(&format!(
            "<li>[{}] {}{link}</li>",
            esc(e["kind"].as_str().unwrap_or("")),
            esc(e["description"].as_str().unwrap_or(""))
        ));
    }
    html.push_str("</ol><h2>全过程记录</h2><table border=\"1\"><tr><th>序号</th><th>时间</th><th>操作人</th><th>操作</th><th>哈希</th></tr>");
    for r in index["record"].as_array().into_iter().flatten() {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r["seq"],
            esc(&r["at"].as_i64().map(rfc3339).unwrap_or_default()),
            esc(r["actor"].as_str().unwrap_or("")),
            esc(r["action"].as_str().unwrap_or("")),
            esc(r["hash"].as_str().unwrap_or(""))
        ));
    }
    html.push_str("</table><p>assessments.json：每次裁量所用插件版本、哈希、事项、情节、基准时间与结果，可用 casegrid case replay 复算。</p></body></html>");
    let assessments = serde_json::to_vec_pretty(&index["assessments"]).unwrap_or_default();
    let record = serde_json::to_vec_pretty(&index["record"]).unwrap_or_default();
    let index_json = serde_json::to_vec_pretty(&index).unwrap_or_default();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let mut put = |name: &str, data: &[u8]| -> Result<(), ApiError> {
            w.start_file(name, opts).map_err(zip_error)?;
            w.write_all(data).map_err(zip_error)
        };
        put("index.html", html.as_bytes())?;
        put("index.json", &index_json)?;
        put("assessments.json", &assessments)?;
        put("record.json", &record)?;
        for (name, data) in &files {
            put(name, data)?;
        }
        Ok(w.finish().map_err(zip_error)?.into_inner())
    })
    .await
    .map_err(zip_error)??;
    let file = format!("{}.zip", number.replace(['〔', '〕'], "-"));
    Ok((file, bytes))
}
