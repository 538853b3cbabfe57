//! The case's documents in zh-CN, made from its data the moment the step is taken: the notice of
//! intended penalty (APL art. 44), the hearing notice (art. 64), the penalty decision with the exact
//! legal bases the plugin gave (art. 59), the service receipts (art. 61), the seal or seizure
//! decision with its inventory (ACL art. 24) and its release (art. 28), the referral letter and the
//! closing report. Each is a self-contained HTML page, printable on A4; its sha256 is kept with it.

use super::store::{Measure, Officer};
use super::{CaseRow, Decision, stage};
use crate::api_error::ApiError;
use crate::clock::Day;
use crate::money::yuan;
use crate::plugins::Plugin;
use crate::plugins::bindings::{FineRule, Item, LegalRef, Penalty, PenaltyKind};
use crate::server::AppState;

type Doc = (String, String, String);

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
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

/// A number in Chinese numerals, as articles are cited: 64 → 六十四, 105 → 一百零五.
pub fn cn(n: u32) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n == 0 {
        return D[0].into();
    }
    let (q, b, s, g) = (n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10);
    let mut out = String::new();
    if n >= 1000 {
        out.push_str(D[q as usize]);
        out.push('千');
    }
    if n >= 100 {
        if b > 0 {
            out.push_str(D[b as usize]);
            out.push('百');
        } else if n >= 1000 && (s > 0 || g > 0) {
            out.push('零');
        }
    }
    if s > 0 {
        // 十 alone for 10–19 when nothing stands before it.
        if n >= 20 {
            out.push_str(D[s as usize]);
        }
        out.push('十');
    } else if n >= 100 && g > 0 && !out.ends_with('零') {
        out.push('零');
    }
    if g > 0 {
        out.push_str(D[g as usize]);
    }
    out
}

/// 《城乡规划法》第六十四条第一款第（一）项
pub fn cite(r: &LegalRef) -> String {
    let mut s = format!("《{}》第{}条", r.statute.zh, cn(r.article));
    if let Some(c) = r.clause {
        s.push_str(&format!("第{}款", cn(c)));
    }
    if let Some(i) = r.item {
        s.push_str(&format!("第（{}）项", cn(i)));
    }
    s
}

fn date_cn(ms: i64) -> String {
    let d = Day::of(ms).to_string();
    format!("{}年{}月{}日", &d[..4], d[5..7].trim_start_matches('0'), d[8..10].trim_start_matches('0'))
}

fn day_cn(d: &str) -> String {
    match Day::parse(d) {
        Some(day) => date_cn(day.start_ms()),
        None => d.to_string(),
    }
}

fn penalty_zh(p: &Penalty, fine: Option<i64>) -> String {
    let t = |x: &crate::plugins::bindings::Text| x.zh.clone();
    match &p.kind {
        PenaltyKind::Warning => "警告".into(),
        PenaltyKind::PublicCriticism => "通报批评".into(),
        PenaltyKind::Fine(rule) => match fine {
            Some(f) => format!("罚款{}", rmb(f)),
            None => match rule {
                FineRule::Fixed(r) => format!("罚款（{}至{}）", yuan(r.min), yuan(r.max)),
                _ => "罚款".into(),
            },
        },
        PenaltyKind::ConfiscateGains => "没收违法所得".into(),
        PenaltyKind::ConfiscateProperty(x) => format!("没收非法财物（{}）", t(x)),
        PenaltyKind::SuspendLicence(x) => format!("暂扣许可证件（{}）", t(x)),
        PenaltyKind::LowerQualification(x) => format!("降低资质等级（{}）", t(x)),
        PenaltyKind::RevokeLicence(x) => format!("吊销许可证件（{}）", t(x)),
        PenaltyKind::RestrictBusiness(x) => format!("限制开展生产经营活动（{}）", t(x)),
        PenaltyKind::SuspendBusiness(x) => format!("责令停产停业（{}）", t(x)),
        PenaltyKind::Close(x) => format!("责令关闭（{}）", t(x)),
        PenaltyKind::RestrictPractice(x) => format!("限制从业（{}）", t(x)),
    }
}

/// A money amount as a decision writes it: 人民币伍万元 is for cheques; 51000.00元 reads plainly.
fn rmb(fen: i64) -> String {
    format!("{}.{:02}元", fen / 100, fen % 100)
}

fn page(title: &str, number: &str, authority: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         @page {{ size: A4; margin: 25mm 20mm; }} body {{ font-family: \"Noto Serif CJK SC\", \"Songti SC\", SimSun, serif; \
         font-size: 14pt; line-height: 1.8; max-width: 170mm; margin: auto; }} h1 {{ text-align: center; font-size: 20pt; \
         letter-spacing: .2em; margin-bottom: 0; }} .authority {{ text-align: center; font-size: 16pt; }} .number {{ text-align: right; }} \
         p {{ text-indent: 2em; margin: .4em 0; }} .sign {{ text-align: right; margin-top: 2em; }} table {{ border-collapse: collapse; width: 100%; }} \
         td, th {{ border: 1px solid #000; padding: 2px 6px; font-size: 12pt; }} blockquote {{ font-size: 12pt; margin: .3em 2em; }}\
         </style></head><body>\n<div class=\"authority\">{a}</div>\n<h1>{t}</h1>\n<div class=\"number\">{n}</div>\n{body}\n</body></html>\n",
        t = esc(title),
        a = esc(authority),
        n = esc(number),
    )
}

fn party_block(k: &CaseRow) -> String {
    let p = &k.party;
    let mut s = format!("<p>当事人：{}</p>", esc(&p.name));
    if let Some(id) = &p.id_number {
        let label = if p.kind == "person" { "身份证件号码" } else { "统一社会信用代码" };
        s.push_str(&format!("<p>{label}：{}</p>", esc(id)));
    }
    if let Some(r) = &p.representative {
        s.push_str(&format!("<p>法定代表人（负责人）：{}</p>", esc(r)));
    }
    if let Some(a) = &p.address {
        s.push_str(&format!("<p>住所（地址）：{}</p>", esc(a)));
    }
    s
}

fn officers_line(officers: &[Officer]) -> String {
    officers
        .iter()
        .map(|o| format!("{}（执法证号：{}）", o.display_name, o.certificate.as_deref().unwrap_or("—")))
        .collect::<Vec<_>>()
        .join("、")
}

fn basis_block(title: &str, refs: &[LegalRef]) -> String {
    if refs.is_empty() {
        return String::new();
    }
    let mut s = format!("<p>{}：</p>", esc(title));
    for r in refs {
        s.push_str(&format!(
            "<blockquote>{}（{}）：“{}”</blockquote>",
            esc(&cite(r)),
            esc(&r.statute_version),
            esc(&r.excerpt)
        ));
    }
    s
}

fn item_of(pinned: Option<&Plugin>, code: &str) -> Option<Item> {
    pinned.and_then(|p| p.data().checklist.iter().find(|i| i.code == code).cloned())
}

fn facts_block(k: &CaseRow) -> String {
    format!(
        "<p>经查，{}于{}在{}，{}</p>",
        esc(&k.party.name),
        esc(&match &k.act_end_date {
            Some(e) if *e != k.act_date => format!("{}至{}", day_cn(&k.act_date), day_cn(e)),
            _ => day_cn(&k.act_date),
        }),
        esc(&k.place),
        esc(&k.summary)
    )
}

/// The penalty of the proposal or decision, in words.
fn penalties_block(penalties: &[Penalty], fine: Option<i64>) -> String {
    let mut s = String::new();
    for (i, p) in penalties.iter().enumerate() {
        let line = match (&p.kind, fine) {
            (PenaltyKind::Fine(_), Some(f)) => format!("罚款{}", rmb(f)),
            _ => penalty_zh(p, fine),
        };
        s.push_str(&format!("<p>{}. {}</p>", cn(i as u32 + 1), esc(&line)));
    }
    s
}

/// What a document is written from: the case as it now is, its officers, the moment of the step,
/// and the version of the rules of the act, whose items give the violation's legal basis.
struct Source<'a> {
    state: &'a AppState,
    k: &'a CaseRow,
    officers: &'a [Officer],
    now: i64,
    pinned: Option<&'a Plugin>,
}

/// A document asked for before the step that gives it its content: the workflow's mistake, not
/// the caller's, hence a 500.
fn missing(what: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "document",
        format!("no {what} to write the document from"),
    )
}

/// Where every document ends: the authority that issues it and the day it speaks for.
fn sign(authority: &str, at: i64) -> String {
    format!("<div class=\"sign\">{}<br>{}</div>", esc(authority), date_cn(at))
}

/// The officers who handle the case, under the label the document gives them.
fn officers_para(label: &str, officers: &[Officer]) -> String {
    format!("<p>{label}：{}</p>", esc(&officers_line(officers)))
}

/// A decision taken on the spot (APL art. 51) is titled as such wherever it is named.
fn decision_title(d: &Decision) -> &'static str {
    if d.summary { "当场行政处罚决定书" } else { "行政处罚决定书" }
}

/// Makes a document of `kind` for the case as it now is: (number, title, html). `pinned`: the
/// version of the rules of the act, whose items give the violation's legal basis.
pub fn render(
    state: &AppState,
    k: &CaseRow,
    officers: &[Officer],
    kind: &str,
    now: i64,
    pinned: Option<&Plugin>,
) -> Result<Doc, ApiError> {
    let src = Source { state, k, officers, now, pinned };
    match kind {
        "notice" => notice(&src),
        "hearing-notice" => hearing_notice(&src),
        "decision" => decision(&src),
        "notice-receipt" => receipt(&src, notice_served(&src)?),
        "decision-receipt" => receipt(&src, decision_served(&src)?),
        "demand" => demand(&src),
        "referral" => referral(&src),
        "closing-report" => closing_report(&src),
        other => Err(missing(other)),
    }
}

/// The notice of intended penalty, with the rights to state, defend and, where due, be heard
/// (APL art. 44, 45, 63, 64).
fn notice(src: &Source) -> Result<Doc, ApiError> {
    let (k, s) = (src.k, &src.state.cases);
    let authority = &s.authority;
    let n = k.progress.notice.as_ref().ok_or_else(|| missing("notice"))?;
    let p = k.proposal.as_ref().ok_or_else(|| missing("proposal"))?;
    let item = item_of(src.pinned, &p.item);
    let mut body = party_block(k);
    body.push_str(&facts_block(k));
    if let Some(it) = &item {
        body.push_str(&basis_block("上述行为违反了", &it.violation_basis));
    }
    body.push_str(&basis_block("依据", &p.basis));
    body.push_str(&format!(
        "<p>本机关拟对你（单位）作出如下行政处罚（裁量档次：{}；{}）：</p>",
        esc(&p.tier),
        esc(&p.applies_because)
    ));
    body.push_str(&penalties_block(&p.penalties, p.fine_fen));
    body.push_str("<p>根据《中华人民共和国行政处罚法》第四十四条、第四十五条的规定，你（单位）享有陈述、申辩的权利，可以在收到本告知书之日起提出陈述和申辩；本机关不因你（单位）的陈述、申辩而给予更重的处罚。</p>");
    if n.hearing_available {
        body.push_str(&format!(
            "<p>根据《中华人民共和国行政处罚法》第六十三条、第六十四条的规定，你（单位）有权要求举行听证；要求听证的，应当在收到本告知书之日起{}个工作日内提出。逾期视为放弃听证。</p>",
            cn(s.hearing_request_days)
        ));
    }
    body.push_str(&officers_para("承办人", src.officers));
    body.push_str(&sign(authority, n.issued_at));
    Ok((n.number.clone(), "行政处罚事先告知书".into(), page("行政处罚事先告知书", &n.number, authority, &body)))
}

/// The hearing notice: when and where, and the party's rights at it (APL art. 64).
fn hearing_notice(src: &Source) -> Result<Doc, ApiError> {
    let (k, authority) = (src.k, &src.state.cases.authority);
    let h = k.progress.hearing.as_ref().ok_or_else(|| missing("hearing"))?;
    let number = h.notice_number.clone().unwrap_or_default();
    let mut body = party_block(k);
    body.push_str(&format!(
        "<p>你（单位）于{}要求听证。根据《中华人民共和国行政处罚法》第六十四条的规定，本机关定于{}在{}举行听证，请准时参加。</p>",
        date_cn(h.requested_at),
        esc(&h.hearing_at.map(crate::clock::iso_cst).unwrap_or_default().replace('T', " ")),
        esc(h.place.as_deref().unwrap_or(""))
    ));
    body.push_str("<p>你（单位）可以亲自参加听证，也可以委托一至二人代理；认为主持人与本案有直接利害关系的，有权申请回避。无正当理由拒不出席听证或者未经许可中途退出听证的，视为放弃听证权利。</p>");
    body.push_str(&sign(authority, h.notified_at.unwrap_or(src.now)));
    Ok((number.clone(), "行政处罚听证通知书".into(), page("行政处罚听证通知书", &number, authority, &body)))
}

/// The penalty decision with the legal bases the plugin gave, the law applied and the remedies
/// (APL art. 59).
fn decision(src: &Source) -> Result<Doc, ApiError> {
    let (k, s) = (src.k, &src.state.cases);
    let authority = &s.authority;
    let d = k.progress.decision.as_ref().ok_or_else(|| missing("decision"))?;
    let p = k.proposal.as_ref().ok_or_else(|| missing("proposal"))?;
    let item = item_of(src.pinned, &d.item);
    let mut body = party_block(k);
    body.push_str(&facts_block(k));
    body.push_str(&procedure_so_far(k));
    if let Some(it) = &item {
        body.push_str(&basis_block("你（单位）的上述行为违反了", &it.violation_basis));
    }
    body.push_str(&basis_block("依据", &p.basis));
    body.push_str(&format!(
        "<p>法律适用：{}。（作出处罚时适用的插件版本：行为时 {} {}，现行 {} {}。）</p>",
        esc(&p.applies_because),
        esc(&k.domain),
        esc(&p.pinned.version),
        esc(&k.domain),
        esc(&p.current.version)
    ));
    if let Some(r) = &p.deviation_reason {
        body.push_str(&format!("<p>裁量理由：{}</p>", esc(r)));
    }
    body.push_str("<p>本机关决定给予如下行政处罚：</p>");
    body.push_str(&penalties_block(&d.penalties, d.fine_fen));
    for o in &d.orders {
        body.push_str(&format!("<p>同时{}。</p>", esc(&o.zh)));
    }
    if d.fine_fen.is_some() {
        body.push_str(&format!(
            "<p>根据《中华人民共和国行政处罚法》第六十七条的规定，你（单位）应当自收到本决定书之日起{}日内，{}。逾期不缴纳罚款的，根据该法第七十二条的规定，每日按罚款数额的百分之三加处罚款，加处罚款的数额不得超出罚款的数额。</p>",
            cn(s.pay_days),
            esc(&s.payment_instructions)
        ));
    }
    body.push_str("<p>如不服本决定，可以自知道该行政行为之日起六十日内依法申请行政复议（《中华人民共和国行政复议法》），或者自知道或者应当知道作出行政行为之日起六个月内依法向人民法院提起行政诉讼（《中华人民共和国行政诉讼法》第四十六条）。逾期不申请行政复议、不提起行政诉讼又不履行本决定的，本机关将依法申请人民法院强制执行。</p>");
    body.push_str(&officers_para("承办人", src.officers));
    body.push_str(&sign(authority, d.decided_at));
    let title = decision_title(d);
    Ok((d.number.clone(), title.into(), page(title, &d.number, authority, &body)))
}

/// What a decision recounts of the procedure before it: the notice served, the party's statements
/// reviewed, the hearing held. Empty when no notice was issued (a decision on the spot).
fn procedure_so_far(k: &CaseRow) -> String {
    let Some(n) = &k.progress.notice else {
        return String::new();
    };
    let mut s = format!(
        "<p>本机关于{}向你（单位）送达了《行政处罚事先告知书》（{}）。",
        n.served_at.map(date_cn).unwrap_or_default(),
        esc(&n.number)
    );
    if !n.statements.is_empty() {
        s.push_str("你（单位）提出了陈述、申辩意见，本机关已予复核。");
    }
    if let Some(h) = k.progress.hearing.as_ref().filter(|h| h.held_at.is_some()) {
        s.push_str(&format!("应你（单位）要求，本机关于{}举行了听证。", h.held_at.map(date_cn).unwrap_or_default()));
    }
    s.push_str("</p>");
    s
}

/// The document a service receipt attests: its title and number, when and how it was served.
struct Served {
    title: &'static str,
    number: String,
    at: i64,
    how: String,
}

/// The notice as served; one not yet served is served now.
fn notice_served(src: &Source) -> Result<Served, ApiError> {
    let n = src.k.progress.notice.as_ref().ok_or_else(|| missing("notice"))?;
    Ok(Served {
        title: "行政处罚事先告知书",
        number: n.number.clone(),
        at: n.served_at.unwrap_or(src.now),
        how: n.served_how.clone().unwrap_or_default(),
    })
}

/// The decision as its service was recorded.
fn decision_served(src: &Source) -> Result<Served, ApiError> {
    let d = src.k.progress.decision.as_ref().ok_or_else(|| missing("decision"))?;
    let sv = src.k.progress.service.as_ref().ok_or_else(|| missing("service"))?;
    Ok(Served { title: decision_title(d), number: d.number.clone(), at: sv.served_at, how: sv.how.clone() })
}

/// The service receipt of a notice or a decision (APL art. 61).
fn receipt(src: &Source, served: Served) -> Result<Doc, ApiError> {
    let k = src.k;
    let number = format!("{}-送达", served.number);
    let body = format!(
        "<table><tr><th>送达文书</th><td>{}（{}）</td></tr><tr><th>受送达人</th><td>{}</td></tr>\
         <tr><th>送达地点</th><td>{}</td></tr><tr><th>送达方式</th><td>{}</td></tr><tr><th>送达时间</th><td>{}</td></tr>\
         <tr><th>送达人</th><td>{}</td></tr><tr><th>受送达人签名</th><td>&nbsp;</td></tr></table>",
        esc(served.title),
        esc(&served.number),
        esc(&k.party.name),
        esc(k.party.address.as_deref().unwrap_or(&k.place)),
        esc(&served.how),
        esc(&crate::clock::iso_cst(served.at).replace('T', " ")),
        esc(&officers_line(src.officers))
    );
    Ok((number.clone(), "送达回证".into(), page("送达回证", &number, &src.state.cases.authority, &body)))
}

/// The written demand to pay before enforcement, with the surcharge so far (ACL art. 35).
fn demand(src: &Source) -> Result<Doc, ApiError> {
    let (k, s) = (src.k, &src.state.cases);
    let authority = &s.authority;
    let dm = k.progress.demand.as_ref().ok_or_else(|| missing("demand"))?;
    let d = k.progress.decision.as_ref().ok_or_else(|| missing("decision"))?;
    let sv = k.progress.service.as_ref().ok_or_else(|| missing("service"))?;
    let fine = d.fine_fen.unwrap_or(0);
    let pay_by = super::clock::end_of_limit(&src.state.intake.calendar, sv.served_at, s.pay_days);
    let surcharge = super::clock::surcharge(s, fine, pay_by, dm.issued_at);
    let mut body = party_block(k);
    body.push_str(&format!(
        "<p>本机关于{}作出《{}》（{}），你（单位）应当自收到之日起{}日内缴纳罚款{}。你（单位）于{}收到该决定书，至今未履行。</p>",
        date_cn(d.decided_at),
        decision_title(d),
        esc(&d.number),
        cn(s.pay_days),
        rmb(fine),
        date_cn(sv.served_at)
    ));
    body.push_str(&format!(
        "<p>根据《中华人民共和国行政强制法》第三十五条的规定，现催告你（单位）于{}前{}，缴纳罚款{}；到期不缴纳罚款的，根据《中华人民共和国行政处罚法》第七十二条的规定，每日按罚款数额的百分之三加处罚款，截至本催告书作出之日已加处罚款{}，加处罚款的数额不得超出罚款的数额。</p>",
        date_cn(dm.due_at - 1),
        esc(&s.payment_instructions),
        rmb(fine),
        rmb(surcharge)
    ));
    body.push_str("<p>根据《中华人民共和国行政强制法》第三十六条的规定，你（单位）收到本催告书后有权进行陈述和申辩。逾期仍不履行的，本机关将依法申请人民法院强制执行。</p>");
    body.push_str(&sign(authority, dm.issued_at));
    Ok((dm.number.clone(), "催告书".into(), page("催告书", &dm.number, authority, &body)))
}

/// The letter that refers the case to the competent agency.
fn referral(src: &Source) -> Result<Doc, ApiError> {
    let (k, authority) = (src.k, &src.state.cases.authority);
    let r = k.progress.referral_out.as_ref().ok_or_else(|| missing("referral"))?;
    let mut body = format!("<p>{}：</p>", esc(&r.agency));
    body.push_str(&format!(
        "<p>本机关在办理{}（案号：{}）时发现：{}</p>",
        esc(&k.title),
        esc(&k.number),
        esc(&k.summary)
    ));
    body.push_str(&format!("<p>移送理由：{}</p>", esc(&r.reason)));
    body.push_str("<p>现将该案件及相关材料移送你单位，请依法处理，并将处理结果函告本机关。</p>");
    body.push_str(&sign(authority, r.referred_at));
    Ok((r.number.clone(), "案件移送函".into(), page("案件移送函", &r.number, authority, &body)))
}

/// The closing report: the case in one table, why it closed, what was decided and paid.
fn closing_report(src: &Source) -> Result<Doc, ApiError> {
    let (k, authority) = (src.k, &src.state.cases.authority);
    let c = k.progress.closing.as_ref().ok_or_else(|| missing("closing"))?;
    let number = format!("{}-结案", k.number);
    let mut rows = vec![
        ("案号", k.number.clone()),
        ("案由", k.title.clone()),
        ("领域", k.domain.clone()),
        ("当事人", k.party.name.clone()),
        ("立案日期", date_cn(k.opened_at)),
        ("案件来源", k.source.clone()),
        ("适用规则", k.pinned_reason.clone()),
        ("结案理由", closing_reason(&c.reason)),
        ("结案说明", c.note.clone()),
        ("结案日期", date_cn(c.closed_at)),
        ("办理阶段", stage::zh(&k.stage).to_string()),
    ];
    if let Some(d) = &k.progress.decision {
        rows.push((
            "处罚决定",
            format!(
                "{}（{}）",
                d.number,
                d.penalties.iter().map(|p| penalty_zh(p, d.fine_fen)).collect::<Vec<_>>().join("、")
            ),
        ));
    }
    if let Some(pm) = &k.progress.payment {
        rows.push((
            "缴纳情况",
            format!("罚款{}，加处罚款{}，票据号{}", rmb(pm.fine_fen), rmb(pm.surcharge_fen), pm.receipt),
        ));
    }
    let mut body = String::from("<table>");
    for (a, b) in rows {
        body.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(a), esc(&b)));
    }
    body.push_str("</table>");
    body.push_str(&officers_para("承办人", src.officers));
    body.push_str(&sign(authority, c.closed_at));
    Ok((number.clone(), "结案报告".into(), page("结案报告", &number, authority, &body)))
}

/// A closing reason in words: one of the grounds not to penalise, or how the case ended.
fn closing_reason(code: &str) -> String {
    super::workflow::NO_PENALTY
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, zh)| format!("不予行政处罚：{zh}"))
        .unwrap_or_else(|| match code {
            "executed" => "行政处罚决定已执行完毕".into(),
            "enforcement" => "已申请人民法院强制执行".into(),
            "referred" => "案件已移送并被接收".into(),
            other => other.into(),
        })
}

/// 查封 (a seal, of places and facilities) or 扣押 (a seizure, of things).
fn measure_word(m: &Measure) -> &'static str {
    if m.kind == "seal" { "查封" } else { "扣押" }
}

fn inventory_table(m: &Measure) -> String {
    let mut t = String::from("<table><tr><th>序号</th><th>名称</th><th>数量</th><th>单位</th><th>备注</th></tr>");
    for (i, line) in m.inventory.as_array().into_iter().flatten().enumerate() {
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(line["name"].as_str().unwrap_or("")),
            line["quantity"],
            esc(line["unit"].as_str().unwrap_or("")),
            esc(line["note"].as_str().unwrap_or(""))
        ));
    }
    t.push_str("</table>");
    t
}

/// The seal or seizure decision with its inventory (ACL art. 24).
pub fn measure(state: &AppState, k: &CaseRow, officers: &[Officer], m: &Measure, item: &Item) -> Result<Doc, ApiError> {
    let s = &state.cases;
    let what = measure_word(m);
    let title = format!("{what}决定书");
    let mut body = party_block(k);
    body.push_str(&format!("<p>本机关在办理{}（案号：{}）中，{}</p>", esc(&k.title), esc(&k.number), esc(&m.reason)));
    body.push_str(&basis_block("依据", &item.penalty_basis));
    body.push_str(&format!(
        "<p>本机关决定对下列场所、设施或者财物予以{what}。{what}地点：{}。{what}期限为{}日，自{}起至{}止；情况复杂的，经本机关负责人批准可以延长，延长期限不超过三十日（《中华人民共和国行政强制法》第二十五条）。对物品需要进行检测、检验、检疫或者技术鉴定的，{what}期间不包括检测、检验、检疫或者技术鉴定的期间。</p>",
        esc(&m.place),
        cn(m.limit_days as u32),
        date_cn(m.decided_at),
        date_cn(m.due_at - 1)
    ));
    body.push_str(&format!("<p>{what}清单：</p>{}", inventory_table(m)));
    body.push_str("<p>如不服本决定，可以依法申请行政复议或者提起行政诉讼。</p>");
    body.push_str(&officers_para("执法人员", officers));
    body.push_str(&sign(&s.authority, m.decided_at));
    Ok((m.number.clone(), title.clone(), page(&title, &m.number, &s.authority, &body)))
}

/// The extension of a seal or seizure, told in writing with its reason (ACL art. 25).
pub fn extension(state: &AppState, k: &CaseRow, officers: &[Officer], m: &Measure) -> Result<Doc, ApiError> {
    let s = &state.cases;
    let what = measure_word(m);
    let title = format!("延长{what}期限决定书");
    let number = format!("{}-延期", m.number);
    let mut body = party_block(k);
    body.push_str(&format!(
        "<p>本机关于{}作出的{what}决定（{}），因{}，经本机关负责人批准，根据《中华人民共和国行政强制法》第二十五条的规定，决定将{what}期限延长三十日，延长后的期限至{}止。</p>{}",
        date_cn(m.decided_at),
        esc(&m.number),
        esc(m.extension_reason.as_deref().unwrap_or("")),
        date_cn(m.due_at - 1),
        inventory_table(m)
    ));
    body.push_str(&officers_para("执法人员", officers));
    body.push_str(&sign(&s.authority, m.extended_at.unwrap_or(m.decided_at)));
    Ok((number.clone(), title.clone(), page(&title, &number, &s.authority, &body)))
}

/// The release of a seal or seizure (ACL art. 28).
pub fn release(state: &AppState, k: &CaseRow, officers: &[Officer], m: &Measure) -> Result<Doc, ApiError> {
    let s = &state.cases;
    let what = measure_word(m);
    let title = format!("解除{what}决定书");
    let number = format!("{}-解除", m.number);
    let mut body = party_block(k);
    body.push_str(&format!(
        "<p>本机关于{}作出的{what}决定（{}），因{}，根据《中华人民共和国行政强制法》第二十八条的规定，决定予以解除。解除清单如下：</p>{}",
        date_cn(m.decided_at),
        esc(&m.number),
        esc(m.release_reason.as_deref().unwrap_or("")),
        inventory_table(m)
    ));
    body.push_str(&officers_para("执法人员", officers));
    body.push_str(&sign(&s.authority, m.released_at.unwrap_or(m.decided_at)));
    Ok((number.clone(), title.clone(), page(&title, &number, &s.authority, &body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_cited_in_chinese_numerals() {
        for (n, zh) in [
            (1, "一"),
            (10, "十"),
            (11, "十一"),
            (20, "二十"),
            (36, "三十六"),
            (64, "六十四"),
            (100, "一百"),
            (105, "一百零五"),
            (110, "一百一十"),
            (1000, "一千"),
            (1005, "一千零五"),
        ] {
            assert_eq!(cn(n), zh, "{n}");
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<b>\"A&B\"</b>"), "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;");
    }
}
