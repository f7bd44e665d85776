use super::*;

#[test]
fn bootstrap_lists_parse() {
    let p = |s: &str| parse_bootstrap(s);
    assert_eq!(p("a:1,b:2"), Some(vec![("a".into(), 1), ("b".into(), 2)]));
    assert_eq!(p(" PLAINTEXT://a:1 , b "), Some(vec![("a".into(), 1), ("b".into(), 9092)]));
    assert_eq!(p("[::1]:9093,[fe80::1]"), Some(vec![("::1".into(), 9093), ("fe80::1".into(), 9092)]));
    assert_eq!(p("SSL://a:1"), None);
    assert_eq!(p("a:x"), None);
    assert_eq!(p("a:0"), None);
    assert_eq!(p(""), None);
    assert_eq!(p("::1"), None);
}

#[test]
fn only_plain_connections_use_the_client() {
    let props = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    assert!(Settings::plain("a:1", &[]).is_some());
    assert!(Settings::plain("a:1", &props(&[("debug", "protocol"), ("security.protocol", "PLAINTEXT")])).is_some());
    assert!(Settings::plain("a:1", &props(&[("security.protocol", "ssl")])).is_none());
    assert!(Settings::plain("a:1", &props(&[("sasl.mechanism", "PLAIN")])).is_none());
    assert!(Settings::plain("a:1", &props(&[("broker.address.family", "v4")])).is_none());
    assert!(Settings::plain("SASL_SSL://a:1", &[]).is_none());
    let s = Settings::plain("a:1", &props(&[("debug", "broker,protocol"), ("client.id", "me")])).unwrap();
    assert!(s.protocol_debug && s.client_id == "me");
    assert!(!Settings::plain("a:1", &props(&[("debug", "broker")])).unwrap().protocol_debug);
}

#[test]
fn states_are_named_as_librdkafka_names_them() {
    assert_eq!(state_name("Stable"), "Stable");
    assert_eq!(state_name("stable"), "Stable");
    assert_eq!(state_name("CompletingRebalance"), "CompletingRebalance");
    assert_eq!(state_name("Assigning"), "Unknown");
    assert_eq!(state_name(""), "Unknown");
}
