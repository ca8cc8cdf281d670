use chiffon::discovery::Repository;
use chiffon::resolve::resolve;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repository = Repository::discover(std::path::Path::new(&args[0]));
    for text in &args[1..] {
        if text == "dump" {
            println!("{repository:#?}");
        } else if text == "apps" {
            for app in &repository.apps {
                println!(
                    "{} {:?} {} file={} role={:?} names={:?} pin={:?} reach={:?} own={:?}",
                    app.service,
                    app.unit,
                    app.unit_name,
                    app.file,
                    app.role,
                    app.names,
                    app.pin,
                    app.reach
                        .iter()
                        .map(|r| format!("{}#{} {} {:?}", r.playbook, r.play, r.hosts, r.tags))
                        .collect::<Vec<_>>(),
                    app.own_tags
                );
            }
        } else {
            println!("{text}\n  {:?}", resolve(&repository, text));
        }
    }
}
