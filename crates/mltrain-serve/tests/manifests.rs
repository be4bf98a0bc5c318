//! Every deployment manifest under `deploy/` parses, and agrees with the code: function
//! names, environment names, ports, paths, and the eventing topology's references.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use std::collections::BTreeSet;
use std::path::PathBuf;

use mltrain_serve::{DEFAULT_PORT, Function, HEALTH_PATH, JOBSINK_EVENT_FILE};
use serde_yaml::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn documents(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join("knative").join(name)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut v = v;
    for key in path {
        v = &v[*key];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("no string at {path:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The container of a Service or JobSink.
fn container(doc: &Value) -> &Value {
    match s(doc, &["kind"]) {
        "Service" => &doc["spec"]["template"]["spec"]["containers"][0],
        "JobSink" => &doc["spec"]["job"]["spec"]["template"]["spec"]["containers"][0],
        other => panic!("no container in a {other}"),
    }
}

/// `--function NAME` values of a container's args, each a real function.
fn functions_of(args: &[String]) -> Vec<Function> {
    args.windows(2)
        .filter(|w| w[0] == "--function")
        .map(|w| w[1].parse().unwrap())
        .collect()
}

fn check_workload(doc: &Value) {
    let c = container(doc);
    assert_eq!(s(c, &["image"]), "${IMAGE}");
    let args = strings(&c["args"]);
    assert!(
        args.windows(2).any(|w| w == ["--store", "s3://"]),
        "{args:?}"
    );
    assert_eq!(s(&c["envFrom"][0], &["secretRef", "name"]), "mltrain-s3");
    for env in c["env"].as_sequence().into_iter().flatten() {
        let name = s(env, &["name"]);
        assert!(
            ["PORT", "K_SINK"].contains(&name) || mltrain_store::ENV_NAMES.contains(&name),
            "unknown env {name}"
        );
    }
    let spec = match s(doc, &["kind"]) {
        "Service" => &doc["spec"]["template"]["spec"],
        _ => &doc["spec"]["job"]["spec"]["template"]["spec"],
    };
    assert_eq!(s(spec, &["runtimeClassName"]), "${RUNTIME_CLASS_NAME}");
    if s(doc, &["kind"]) == "Service" {
        assert_eq!(args[0], "serve");
        assert_eq!(
            c["ports"][0]["containerPort"].as_u64(),
            Some(u64::from(DEFAULT_PORT))
        );
        assert_eq!(s(c, &["readinessProbe", "httpGet", "path"]), HEALTH_PATH);
        assert!(
            spec["containerConcurrency"]
                .as_u64()
                .is_some_and(|n| n >= 1)
        );
        assert!(
            spec["timeoutSeconds"]
                .as_u64()
                .is_some_and(|n| (60..=3600).contains(&n))
        );
        let f = functions_of(&args);
        assert_eq!(f.len(), 1, "one function per Service: {args:?}");
        assert_eq!(
            s(doc, &["metadata", "labels", "mltrain.dev/function"]),
            f[0].name()
        );
    } else {
        assert_eq!(args[0], "job");
        assert!(
            args.windows(2)
                .any(|w| w == ["--event-file", JOBSINK_EVENT_FILE])
        );
    }
}

#[test]
fn services_cover_every_function_and_agree_with_the_code() {
    let docs = documents("services.yaml");
    let mut served = BTreeSet::new();
    for doc in &docs {
        assert_eq!(s(doc, &["kind"]), "Service");
        check_workload(doc);
        let args = strings(&container(doc)["args"]);
        let f = functions_of(&args)[0];
        assert_eq!(s(doc, &["metadata", "name"]), format!("mltrain-{f}"));
        served.insert(f);
        let scale = &doc["spec"]["template"]["metadata"]["annotations"];
        let min: u32 = s(scale, &["autoscaling.knative.dev/min-scale"])
            .parse()
            .unwrap();
        let max: u32 = s(scale, &["autoscaling.knative.dev/max-scale"])
            .parse()
            .unwrap();
        assert!(min <= max && max >= 1);
        // The driver's --function-url values point at the other Services' paths.
        for spec in args
            .windows(2)
            .filter(|w| w[0] == "--function-url")
            .map(|w| &w[1])
        {
            let (name, url) = spec.split_once('=').unwrap();
            let target: Function = name.parse().unwrap();
            assert!(
                url.starts_with(&format!("http://mltrain-{target}.${{NAMESPACE}}.svc")),
                "{url}"
            );
            assert!(url.ends_with(&target.path()), "{url}");
        }
    }
    assert_eq!(served, Function::ALL.into_iter().collect());
}

#[test]
fn secret_holds_the_store_settings() {
    let docs = documents("secret.yaml");
    let data = docs[0]["stringData"].as_mapping().unwrap();
    for key in data.keys() {
        let key = key.as_str().unwrap();
        assert!(mltrain_store::ENV_NAMES.contains(&key), "{key}");
    }
    for needed in ["S3_HOST", "S3_PORT", "S3_USER", "S3_PASSWORD", "S3_BUCKET"] {
        assert!(data.contains_key(needed), "{needed}");
    }
}

#[test]
fn eventing_topology_is_wired_end_to_end() {
    let docs = documents("eventing.yaml");
    let names = |kind: &str| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| s(d, &["kind"]) == kind)
            .map(|d| s(d, &["metadata", "name"]).to_string())
            .collect()
    };
    let channels = names("Channel");
    let services = names("Service");
    let jobsinks = names("JobSink");
    for doc in docs
        .iter()
        .filter(|d| ["Service", "JobSink"].contains(&s(d, &["kind"])))
    {
        check_workload(doc);
        // K_SINK points at a channel of this file.
        for env in container(doc)["env"].as_sequence().into_iter().flatten() {
            if s(env, &["name"]) == "K_SINK" {
                let url = s(env, &["value"]);
                let channel = url
                    .strip_prefix("http://")
                    .and_then(|u| u.split("-kn-channel.").next())
                    .unwrap();
                assert!(channels.contains(channel), "{url}");
            }
        }
    }
    let mut chain = Vec::new();
    for sub in docs.iter().filter(|d| s(d, &["kind"]) == "Subscription") {
        let channel = s(sub, &["spec", "channel", "name"]);
        assert!(channels.contains(channel), "{channel}");
        let target = s(sub, &["spec", "subscriber", "ref", "name"]);
        match s(sub, &["spec", "subscriber", "ref", "kind"]) {
            "Service" => assert!(services.contains(target)),
            "JobSink" => assert!(jobsinks.contains(target)),
            other => panic!("{other}"),
        }
        if let Some(reply) = sub["spec"]["reply"]["ref"]["name"].as_str() {
            assert!(channels.contains(reply), "{reply}");
        }
        chain.push((channel.to_string(), target.to_string()));
    }
    // The original's edges: ingress → partition → pca → rf → validation.
    let order: Vec<&str> = chain.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        order,
        [
            "ingress-to-partition",
            "partition-to-pca",
            "pca-to-rf",
            "rf-to-validation"
        ]
    );
}

#[test]
fn scripts_post_to_real_routes_and_types() {
    let invoke = std::fs::read_to_string(deploy_dir().join("knative/invoke.sh")).unwrap();
    assert!(invoke.contains(&format!("svc.cluster.local{}", Function::Driver.path())));
    assert!(invoke.contains(&Function::Driver.request_type()));
    assert!(invoke.contains(&Function::Partition.flow_type()));
    assert!(invoke.contains("ingress-to-partition-kn-channel"));
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {DEFAULT_PORT}")));
    assert!(
        dockerfile.contains("USER 65532"),
        "the runtime image runs as non-root"
    );
}
