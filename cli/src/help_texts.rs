//! Every flag and argument of every command says what it is in `--help`, and the commands that
//! print no events refuse `-o raw`.

use clap::{CommandFactory, Parser};

use super::Cli;

fn undescribed(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.is_hide_set() || id == "help" || id == "version" {
            continue;
        }
        if arg.get_help().is_none() && arg.get_long_help().is_none() {
            out.push(format!("{path} {id}"));
        }
    }
    for sub in cmd.get_subcommands() {
        undescribed(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_flag_and_argument_has_a_description() {
    let mut missing = Vec::new();
    undescribed(&Cli::command(), "logwarden", &mut missing);
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

#[test]
fn commands_that_print_no_events_refuse_raw_output() {
    for args in [
        &["logwarden", "count", "*", "-o", "raw"][..],
        &["logwarden", "fleet", "-o", "raw"],
        &["logwarden", "status", "-o", "raw"],
        &["logwarden", "alerts", "-o", "raw"],
        &["logwarden", "silence", "list", "-o", "raw"],
        &["logwarden", "alerts", "test", "-o", "raw"],
    ] {
        let err = match Cli::try_parse_from(args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("use text or json"), "{args:?}: {err}");
    }
    assert!(Cli::try_parse_from(["logwarden", "search", "x", "-o", "raw"]).is_ok());
    assert!(Cli::try_parse_from(["logwarden", "count", "x", "-o", "json"]).is_ok());
}
