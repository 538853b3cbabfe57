//! The bureau's eight domains, served together: every bundled plugin passes the conformance check,
//! the server loads all eight, the coercive measures are grounded in the Administrative Compulsion
//! Law, and citizens' words reach the right domain — or a person, when no domain fits.

use casegrid_tests::{App, casegrid_bin, plugin};
use serde_json::{Value, json};
use std::process::Command;

use casegrid_tests::BUNDLED_DOMAINS as DOMAINS;

async fn all_eight() -> App {
    let files: Vec<_> = DOMAINS.iter().map(|d| plugin(d)).collect();
    App::spawn(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>()).await
}

#[test]
fn every_bundled_plugin_passes_the_conformance_check() {
    for d in DOMAINS {
        let out = Command::new(casegrid_bin()).args(["plugin", "check"]).arg(plugin(d)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{d}:\n{text}");
        assert!(text.trim_end().ends_with("PASS"), "{d}:\n{text}");
    }
}

#[tokio::test]
async fn the_server_serves_eight_domains_with_their_checklists() {
    let app = all_eight().await;
    let (_, domains) = app.get("/api/v1/domains").await;
    let mut codes: Vec<_> =
        domains.as_array().unwrap().iter().map(|d| d["domain"].as_str().unwrap().to_string()).collect();
    codes.sort();
    let mut expected: Vec<_> = DOMAINS.iter().map(|d| d.to_string()).collect();
    expected.sort();
    assert_eq!(codes, expected);

    let mut coercive = 0;
    for d in DOMAINS {
        let (status, items) = app.get(&format!("/api/v1/domains/{d}/checklist")).await;
        assert_eq!(status, 200);
        let items = items.as_array().unwrap();
        let penalties = items.iter().filter(|i| i["kind"] == "Penalty").count();
        let minimum = if d == "housing" { 10 } else { 12 };
        assert!(penalties >= minimum, "{d}: {penalties} penalty items");
        for it in items.iter().filter(|i| i["kind"] == "CoerciveMeasure") {
            coercive += 1;
            // Every coercive measure cites both the statute granting it and the ACL it runs under.
            let cited = it.to_string();
            assert!(cited.contains("中华人民共和国行政强制法"), "{d} {} does not cite the ACL", it["code"]);
            let granting =
                it["violation_basis"].as_array().unwrap().iter().chain(it["penalty_basis"].as_array().unwrap());
            assert!(
                granting.into_iter().any(|c| c["statute"]["zh"] != "中华人民共和国行政强制法"),
                "{d} {}",
                it["code"]
            );
        }
        let (_, domain) = app.get(&format!("/api/v1/domains/{d}")).await;
        assert!(domain["categories"].as_array().unwrap().len() >= 4, "{d}: at least 4 report categories");
    }
    assert!(coercive >= 20, "{coercive} coercive-measure items across the eight domains");
    app.stop().await;
}

/// (text, the domain it belongs to)
const REPORTS: [(&str, &str); 48] = [
    // housing & construction
    ("我家楼下有人在楼顶私自加盖了一层铁皮房，已经搭了好几天了，物业也不管", "housing"),
    ("海景花园3栋1楼业主把院子围起来盖了个砖房，都快封顶了，这不是违章建筑吗", "housing"),
    ("北海大道那个楼盘工地，听说没有施工许可证就开工了，已经打了好几天桩", "housing"),
    ("晚上有渣土车在银滩路边偷倒建筑垃圾，堆了一大片", "housing"),
    ("楼上邻居装修把承重墙砸了，整栋楼的人都很担心", "housing"),
    ("Someone is building an illegal extension on the roof of block 5 in our estate", "housing"),
    // transport
    (
        "每天早上6点多，高铁北站出口那边停着好几辆私家车拉客，喊着去合浦县城一个人收60，都是没有营运证的黑车，希望管管",
        "transport",
    ),
    ("昨天晚上十点多在高铁站打车，出租车司机不打表，开口就要80，还绕远路", "transport"),
    ("S215省道靠近李家村那段，有人把稻谷摊在公路上晒，还拿石头压着，晚上骑车差点摔了", "transport"),
    (
        "最近半夜老有大货车从镇上绕小路走，就是为了躲前面那个超限检测站，车上拉的石料明显超载，村里的水泥路都被压烂了",
        "transport",
    ),
    ("今天早上7点多看到一辆没挂危险品标志的小货车拉着好多桶化学品，停在工业园北门口，味道很冲", "transport"),
    (
        "The driving school on Beihai Road made us pay extra for practice hours, and the instructor signed off training we never did",
        "transport",
    ),
    // ecology & environment
    ("东风路和解放路交叉口那个汽修店，每天下午喷漆，味道特别刺鼻，离小学就几十米", "ecology"),
    ("我们小区南门外的小河这两天水发黑，还有死鱼，上游那个印染厂晚上好像在偷排废水", "ecology"),
    ("城西物流园后面的空地上堆了好几十个化工桶，有的在漏，味道很大，昨天下午看到一辆小货车拉来的", "ecology"),
    ("每天早上六点不到，滨江公园的广场舞音响就开得特别大声，我们临江小区的老人孩子都被吵醒", "ecology"),
    (
        "Someone has been dumping waste oil and chemical drums behind the warehouse on Gongye Road since last week",
        "ecology",
    ),
    (
        "The building site next to Riverside Garden has no dust nets at all and the trucks leave without being washed, dust everywhere since Monday",
        "ecology",
    ),
    // industry & energy
    (
        "举报！城中村建设路18号那家洗车店，老板把电线直接搭在供电局的线上，不走电表偷电，机器晚上一直开着，昨晚9点多我路过看到的",
        "industry-energy",
    ),
    (
        "我们工业园2号厂房的房东把电转卖给租户，一度电收1块5，比供电局贵了快一倍，这种转供电加价收电费有人管吗",
        "industry-energy",
    ),
    (
        "今天下午3点左右，环城路加油站往北200米，有台挖掘机在输油管道上方挖土，旁边的管道标志桩被推倒了，太危险了",
        "industry-energy",
    ),
    (
        "周末好几个小孩在城东公园边上的高压线下面放风筝，有个风筝已经挂在电线上了，还有人想爬电线杆去拿，麻烦管一下",
        "industry-energy",
    ),
    (
        "I bought a fridge from a shop on Jiefang Road last week. There's no energy label on it and the seller admitted it's an old model that has been banned.",
        "industry-energy",
    ),
    (
        "在城南菜市场旁边那家店买的煤，烧起来全是石头和土，煤里掺了好多煤矸石，明显是以次充好，老板还不认账",
        "industry-energy",
    ),
    // natural resources
    (
        "我们村东头老王家在基本农田上盖了三间砖房，前天已经封顶了，村委会说管不了。地址：清水镇新塘村东头。",
        "natural-resources",
    ),
    (
        "新河大桥下面这半个月每天晚上十点以后有人开着挖机和采沙船偷偷挖沙，一车一车往外拉，河岸都塌了一块。",
        "natural-resources",
    ),
    ("后山（老虎岭）那片松树林上周被人砍光了，还拉走了好几车木头，听说是要毁林开荒种果树。", "natural-resources"),
    (
        "石桥村三组村道南边，有人把承包的耕地挖了一米多深往外卖土，现在坑里全是积水，根本没法种地了。",
        "natural-resources",
    ),
    (
        "Someone knocked over and took away the survey marker (the concrete benchmark post) at the top of Fenghuang Hill last weekend.",
        "natural-resources",
    ),
    (
        "A company rented the village's collective land next to Route 206 and is putting up a factory on what used to be farmland, started about two weeks ago.",
        "natural-resources",
    ),
    // culture & tourism
    (
        "3月1号跟团去的海边一日游，团费才39块一个人，结果导游一上午带我们进了三个购物店，卖珍珠和海产品，没人买就不让上车，说不买就自己走回去。组团的是阳光假日旅行社。",
        "culture-tourism",
    ),
    (
        "昨天上午在北部湾广场门口有个女的举着小旗子拉人去涠洲岛，说自己是导游但拿不出导游证，收了我们每人280块，上船前又要每人再交50块小费，不交就不管我们了。",
        "culture-tourism",
    ),
    (
        "The net cafe next to No. 3 Middle School on Changqing Road is full of kids in school uniforms after 10pm on weeknights. Nobody checks IDs at the door, I saw it again last Friday.",
        "culture-tourism",
    ),
    (
        "和平路那家金嗓子KTV上周六晚上放一群初中生进包厢唱歌喝酒，一直闹到凌晨一点多，门口也没挂未成年人禁入的牌子。",
        "culture-tourism",
    ),
    (
        "今晚在万达广场露天舞台办的明星演唱会，票卖380一张，台上那个歌手明显在假唱，声音和嘴型都对不上，听说这场演出根本没报批。",
        "culture-tourism",
    ),
    (
        "老城区中山路那段古城墙旁边，这几天有施工队开挖掘机挖沟，离城墙不到五米，城墙根下立的文物保护标志牌也被推倒了。",
        "culture-tourism",
    ),
    // labour inspection
    (
        "My boss at the Sichuan restaurant on Jiefang Street hasn't paid me for two months and now he won't answer my calls",
        "labour",
    ),
    ("滨江路那个小区工地上的包工头欠我们十几个农民工工资，说总包没拨钱，眼看过年回不了家", "labour"),
    ("街口那家奶茶店招了好几个看着才十四五岁的孩子，天天在店里干活，怀疑是童工", "labour"),
    (
        "The electronics factory on Xinhua Road makes us work 12-hour shifts with no day off for the whole month",
        "labour",
    ),
    (
        "高新区那家做外卖配送的公司，我入职半年了一直没给交社保，上周还让每个人签自愿放弃社保的承诺书，不签就走人",
        "labour",
    ),
    ("河西物流园那家快递分拣公司入职要交500块服装押金，干了不到一个月辞职，押金到现在都不退", "labour"),
    // commerce
    (
        "城东工业园后面那个废品站天天收报废车，晚上在院子里拆发动机、车架，拆下来的零件直接拉走卖，听说根本没有拆解资质",
        "commerce",
    ),
    (
        "上周六在金海湾酒店的拍卖会上，我看中的一幅字画一直被两个人轮流举牌抬价，后来发现其中一个是拍卖公司的员工",
        "commerce",
    ),
    (
        "去年花了8万块加盟一个奶茶品牌，签合同前什么资料都没给我看，后来才知道总部一家直营店都没有，现在要退加盟费也不退",
        "commerce",
    ),
    (
        "My neighbour keeps trying to recruit me into what is obviously a pyramid scheme: pay 3,000 yuan to join and earn from your downline",
        "commerce",
    ),
    (
        "我同学被骗到北海搞传销，进去要交69800元入门费，还要拉人头发展下线，手机被收了不让走，地址在银海区某小区",
        "commerce",
    ),
    (
        "There's a yard behind the old bus depot on Sichuan Road where they strip scrapped cars at night and sell the engines to repair shops, saw trucks loading three nights this week",
        "commerce",
    ),
];

/// Matters no enforcement domain of the bureau handles: they must go to a person, not into a domain.
const NOT_OURS: [&str; 5] = [
    "公园里的路灯坏了好几天，晚上走路黑乎乎的",
    "我想问一下护照过期了去哪里办新的",
    "小区门口的公交站牌被风吹歪了",
    "The bus this morning was twenty minutes late again",
    "隔壁邻居老是把车停在我家门口，说了也不听",
];

async fn route(app: &App, text: &str) -> Value {
    let (status, d) = app.post("/api/v1/classify", json!({ "text": text })).await;
    assert_eq!(status, 200, "{d}");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_words_reach_the_right_domain_and_strangers_go_to_a_person() {
    let app = all_eight().await;
    let mut right = 0;
    let mut misses = Vec::new();
    for (text, domain) in REPORTS {
        let d = route(&app, text).await;
        if d["outcome"] == "routed" && d["domain"] == domain {
            right += 1;
        } else {
            misses.push(format!("{domain}: {} ({}) — {text}", d["outcome"], d["reason"]));
        }
    }
    // The bar: at least 90% of the 48 reports land in the right domain.
    assert!(right * 10 >= REPORTS.len() * 9, "{right}/48 routed right; misses:\n{}", misses.join("\n"));
    for text in NOT_OURS {
        let d = route(&app, text).await;
        assert_eq!(d["outcome"], "triage", "{text}: {d}");
        assert!(!d["reason"].as_str().unwrap().is_empty());
    }
    app.stop().await;
}

/// Where two domains could claim one act, each checklist says whose item applies, and the words a
/// citizen uses for it do not put both domains on top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_act_two_domains_could_claim_goes_to_one() {
    let app = all_eight().await;
    for (text, owner) in [
        // A house on farmland: the land occupation is natural resources' (土地管理法 art. 77).
        ("村民在自家承包的耕地上打地基建房子，已经砌到一层了", "natural-resources"),
        // A rooftop shed in town: a planning violation, housing's (城乡规划法 art. 64).
        ("小区楼顶有人违章搭建了一间铁皮房", "housing"),
        // Construction-site dust is ecology's (大气污染防治法); dumping construction waste, housing's.
        ("工地没有围挡也不洒水，扬尘特别大，整条街都是灰", "ecology"),
        ("有人半夜往路边倾倒建筑垃圾和渣土", "housing"),
    ] {
        let d = route(&app, text).await;
        assert_eq!((d["outcome"].as_str(), d["domain"].as_str()), (Some("routed"), Some(owner)), "{text}: {d}");
    }
    // And the checklist says whose item applies: natural resources' land-occupation item names
    // housing's item for the planning side of the same building.
    let (_, item) = app.get("/api/v1/domains/natural-resources/checklist/NR-P-001").await;
    assert!(item.to_string().contains("HC-P-001"), "{item}");
    app.stop().await;
}
