//! Key rotation seen from several sessions: other backends' caches follow a
//! subject key rotation, and key creation racing a root key rotation never
//! leaves a key wrapped under the superseded epoch.

use postgres::Client;
use pseudo_ext_client_tests::{backend_pid, connect, fresh_subject, setup, wait_until_blocked, LOCK_WAIT_TIMEOUT};
use std::thread;

fn key_id(c: &mut Client, sql: &str) -> String {
    c.query_one(&format!("SELECT pseudo_key_id(({sql}))::text"), &[]).unwrap().get(0)
}

/// The root epoch that the key of row `id` of `table` is wrapped under.
fn root_epoch_of_row(c: &mut Client, table: &str, id: i32) -> i32 {
    let sql = format!(
        "SELECT k.root_epoch FROM pseudo_keys.subject_key k JOIN {table} t ON k.key_id = pseudo_key_id(t.v) WHERE t.id = $1"
    );
    c.query_one(&sql, &[&id]).unwrap().get(0)
}

fn keys_not_under_current_epoch(c: &mut Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pseudo_keys.subject_key WHERE root_epoch <> (SELECT max(epoch) FROM pseudo_keys.root_key)",
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn subject_rotation_in_one_session_moves_the_next_encryption_of_another() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "rot_sessions");
    let before = key_id(&mut a, "pseudo_encrypt('rs-frank', 'x')");
    assert_eq!(key_id(&mut a, "pseudo_encrypt('rs-frank', 'y')"), before, "A caches the current key");
    let rotated: String = b.query_one("SELECT pseudo_rotate('rs-frank')::text", &[]).unwrap().get(0);
    assert_ne!(rotated, before);
    assert_eq!(key_id(&mut a, "pseudo_encrypt('rs-frank', 'z')"), rotated, "A's next transaction uses the new key");
}

#[test]
fn key_created_while_a_root_rotation_waits_is_rewrapped_by_it() {
    let mut a = connect();
    setup(&mut a, "rot_root_wait");
    // A creates the subject's first key, which the rotation must wait for.
    let gina = fresh_subject("rr-gina");
    let mut tx = a.transaction().unwrap();
    tx.execute("INSERT INTO rot_root_wait VALUES (1, pseudo_encrypt($1, 'gina'))", &[&gina]).unwrap();
    let mut b = connect();
    let b_pid = backend_pid(&mut b);
    let rotation = thread::spawn(move || b.query_one("SELECT pseudo_rotate_root_key()", &[]).unwrap().get::<_, i32>(0));
    // The rotation must wait for the key creator.
    wait_until_blocked(&mut connect(), b_pid, LOCK_WAIT_TIMEOUT);
    tx.commit().unwrap();
    rotation.join().unwrap();
    assert_eq!(keys_not_under_current_epoch(&mut a), 0);
    let v: Option<String> = a.query_one("SELECT pseudo_decrypt(v) FROM rot_root_wait", &[]).unwrap().get(0);
    assert_eq!(v.as_deref(), Some("gina"));
}

#[test]
fn key_created_during_a_root_rotation_uses_the_new_epoch() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "rot_root_during");
    // A loads its keyring (current epoch) before the rotation starts.
    a.execute("INSERT INTO rot_root_during VALUES (1, pseudo_encrypt('rd-hans', 'hans'))", &[]).unwrap();
    let mut tx = b.transaction().unwrap();
    let epoch: i32 = tx.query_one("SELECT pseudo_rotate_root_key()", &[]).unwrap().get(0);
    let a_pid = backend_pid(&mut a);
    let ida = fresh_subject("rd-ida"); // a first key, created under the rotation
    let creator = thread::spawn(move || {
        a.execute("INSERT INTO rot_root_during VALUES (2, pseudo_encrypt($1, 'ida'))", &[&ida]).unwrap();
        a
    });
    // Key creation must wait for the rotation.
    wait_until_blocked(&mut connect(), a_pid, LOCK_WAIT_TIMEOUT);
    tx.commit().unwrap();
    let mut a = creator.join().unwrap();
    let under = root_epoch_of_row(&mut a, "rot_root_during", 2);
    assert_eq!(under, epoch, "the new key is wrapped under the new epoch");
    assert_eq!(keys_not_under_current_epoch(&mut a), 0);
    let n: i64 = a
        .query_one("SELECT count(*) FROM rot_root_during WHERE pseudo_decrypt(v) IN ('hans', 'ida')", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn epoch_lock_released_by_a_rolled_back_savepoint_is_taken_again() {
    let mut a = connect();
    let mut b = connect();
    setup(&mut a, "rot_root_savepoint");
    a.execute("INSERT INTO rot_root_savepoint VALUES (1, pseudo_encrypt('rs-jo', 'jo'))", &[]).unwrap();
    // A locks the epoch for a first key inside a savepoint, then rolls the
    // savepoint back: the lock goes with it, and the rotation need not wait.
    let a_pid = backend_pid(&mut a);
    a.batch_execute("BEGIN; SAVEPOINT s").unwrap();
    a.execute("INSERT INTO rot_root_savepoint VALUES (2, pseudo_encrypt($1, 'kim'))", &[&fresh_subject("rs-kim")])
        .unwrap();
    a.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
    let mut rotation = b.transaction().unwrap();
    rotation.batch_execute("SET LOCAL lock_timeout = '30s'").unwrap();
    let epoch: i32 = rotation.query_one("SELECT pseudo_rotate_root_key()", &[]).unwrap().get(0);
    // A's next first key must take the lock again and so wait for the rotation.
    let lea = fresh_subject("rs-lea");
    let creator = thread::spawn(move || {
        a.execute("INSERT INTO rot_root_savepoint VALUES (3, pseudo_encrypt($1, 'lea'))", &[&lea]).unwrap();
        a.batch_execute("COMMIT").unwrap();
    });
    wait_until_blocked(&mut connect(), a_pid, LOCK_WAIT_TIMEOUT);
    rotation.commit().unwrap();
    creator.join().unwrap();
    let under = root_epoch_of_row(&mut b, "rot_root_savepoint", 3);
    assert_eq!(under, epoch, "the key created after the savepoint is wrapped under the new epoch");
    assert_eq!(keys_not_under_current_epoch(&mut b), 0);
}
