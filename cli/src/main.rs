//! `pseudo-fhe`: the client of pseudo_ext's private key/value store.
//!
//! The client key never leaves this process and its key file; PostgreSQL
//! receives the server key and ciphertexts, and answers with ciphertexts.
//!
//! ```text
//! pseudo-fhe [--key FILE] [--db CONNINFO] keygen
//! pseudo-fhe [--key FILE] [--db CONNINFO] create-store NAME CAPACITY KEY_BITS VALUE_BITS
//! pseudo-fhe [--key FILE] [--db CONNINFO] set NAME KEY VALUE
//! pseudo-fhe [--key FILE] [--db CONNINFO] get NAME KEY
//! pseudo-fhe [--key FILE] [--db CONNINFO] drop-store NAME
//! pseudo-fhe [--key FILE] encrypt BITS KEY             (a key to GET: prints \x... for psql)
//! pseudo-fhe [--key FILE] encrypt-set-key BITS KEY     (a key to SET)
//! pseudo-fhe [--key FILE] encrypt-set-value BITS VALUE (a value to SET)
//! ```
//!
//! `--key` defaults to `$PSEUDO_FHE_KEY`, else `pseudo_fhe_client.key`;
//! `--db` to `$PSEUDO_FHE_DB`, else `host=/var/run/postgresql dbname=postgres`.

#![forbid(unsafe_code)]

use postgres::{Client, NoTls};
use pseudo_fhe::client::ClientKeys;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: pseudo-fhe [--key FILE] [--db CONNINFO] \
    keygen | create-store NAME CAPACITY KEY_BITS VALUE_BITS | set NAME KEY VALUE | get NAME KEY | drop-store NAME \
    | encrypt BITS KEY | encrypt-set-key BITS KEY | encrypt-set-value BITS VALUE";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Options {
    key_file: String,
    db: String,
    command: Vec<String>,
}

fn parse_args() -> Result<Options> {
    let mut opts = Options {
        key_file: std::env::var("PSEUDO_FHE_KEY").unwrap_or_else(|_| "pseudo_fhe_client.key".into()),
        db: std::env::var("PSEUDO_FHE_DB").unwrap_or_else(|_| "host=/var/run/postgresql dbname=postgres".into()),
        command: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--key" => opts.key_file = args.next().ok_or("--key needs a file")?,
            "--db" => opts.db = args.next().ok_or("--db needs a connection string")?,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => opts.command.push(arg),
        }
    }
    Ok(opts)
}

fn load_keys(path: &str) -> Result<ClientKeys> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read client key {path}: {e} (run `pseudo-fhe keygen`)"))?;
    Ok(ClientKeys::from_bytes(&bytes)?)
}

fn keygen(path: &str) -> Result<()> {
    let keys = ClientKeys::generate()?;
    // create_new: never overwrite a key, whose loss makes every store unreadable.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {path}: {e}"))?;
    file.write_all(&keys.to_bytes())?;
    file.sync_all()?;
    println!("client key written to {path} (keep it private; without it no answer can be decrypted)");
    Ok(())
}

/// The key and value widths of a store.
fn widths(db: &mut Client, store: &str) -> Result<(usize, usize)> {
    let row = db
        .query_opt("SELECT key_bits, value_bits FROM pseudo_fhe.stores WHERE name = $1", &[&store])?
        .ok_or_else(|| format!("no FHE store \"{store}\" that this role may use"))?;
    Ok((row.get::<_, i32>(0) as usize, row.get::<_, i32>(1) as usize))
}

fn number(s: &str) -> Result<u64> {
    s.parse::<u64>().map_err(|_| format!("{s:?} is not an unsigned integer").into())
}

fn run(opts: Options) -> Result<()> {
    let args: Vec<&str> = opts.command.iter().map(String::as_str).collect();
    if args == ["keygen"] {
        return keygen(&opts.key_file);
    }
    let keys = load_keys(&opts.key_file)?;
    if let [what @ ("encrypt" | "encrypt-set-key" | "encrypt-set-value"), bits, value] = args.as_slice() {
        let (bits, value) = (bits.parse()?, number(value)?);
        let blob = match *what {
            "encrypt" => keys.encrypt(bits, value)?,
            "encrypt-set-key" => keys.encrypt_set_key(bits, value)?,
            _ => keys.encrypt_set_value(bits, value)?,
        };
        println!("\\x{}", blob.iter().map(|b| format!("{b:02x}")).collect::<String>());
        return Ok(());
    }
    let mut db = Client::connect(&opts.db, NoTls)?;
    let started = Instant::now();
    match args.as_slice() {
        ["create-store", name, capacity, key_bits, value_bits] => {
            let blob = keys.server_key_blob();
            db.execute(
                "SELECT pseudo_fhe_create_store($1, $2, $3, $4, $5)",
                &[name, &blob, &capacity.parse::<i32>()?, &key_bits.parse::<i32>()?, &value_bits.parse::<i32>()?],
            )?;
            println!("store {name} created: {capacity} slots, server key {} bytes", blob.len());
        }
        ["set", name, key, value] => {
            let (key_bits, value_bits) = widths(&mut db, name)?;
            let key = keys.encrypt_set_key(key_bits, number(key)?)?;
            let value = keys.encrypt_set_value(value_bits, number(value)?)?;
            let answer: Vec<u8> = db.query_one("SELECT pseudo_fhe_set($1, $2, $3)", &[name, &key, &value])?.get(0);
            if keys.decrypt_set(&answer)? {
                println!("stored ({:.1} s)", started.elapsed().as_secs_f64());
            } else {
                println!("not stored: the store is full ({:.1} s)", started.elapsed().as_secs_f64());
            }
        }
        ["get", name, key] => {
            let (key_bits, _) = widths(&mut db, name)?;
            let query = keys.encrypt(key_bits, number(key)?)?;
            let answer: Vec<u8> = db.query_one("SELECT pseudo_fhe_get($1, $2)", &[name, &query])?.get(0);
            match keys.decrypt_get(&answer)? {
                Some(value) => println!("{value} ({:.1} s)", started.elapsed().as_secs_f64()),
                None => println!("not found ({:.1} s)", started.elapsed().as_secs_f64()),
            }
        }
        ["drop-store", name] => {
            db.execute("SELECT pseudo_fhe_drop_store($1)", &[name])?;
            println!("store {name} dropped");
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<postgres::Error>().and_then(|e| e.as_db_error()) {
                Some(db) => eprintln!("pseudo-fhe: {} ({})", db.message(), db.code().code()),
                None => eprintln!("pseudo-fhe: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}
