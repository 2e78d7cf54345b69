//! Citus: the key tables are reference tables (`pseudo_distribute_keys()`,
//! docs/citus.md), so every node holds every wrapped key and reads it
//! locally. What a worker cannot do itself is create a key: inside a query
//! the coordinator sent it, a write to a reference table would reach the
//! other nodes through new connections of the same distributed transaction,
//! and two shard tasks creating keys then wait for each other (Citus reports
//! a distributed deadlock). So a worker asks the coordinator, which creates
//! the key in a transaction of its own (committed at once, on every node)
//! and answers with the wrapped key. A key created for a row that is then
//! rolled back stays unused, like a key rotated away.
//!
//! Every statement here runs as the extension owner ([`crate::pg::owner_context`]);
//! the coordinator's connection is Citus's own, as that role.

use crate::error::PseudoError;
use crate::pg::catalog;
use pgrx::spi::SpiClient;
use pseudo_core::KeyId;

/// Whether Citus is installed in this database.
pub fn citus_here() -> bool {
    catalog::setting(c"citus.version").is_some() && catalog::relation_oid(c"pg_catalog", c"pg_dist_partition").is_some()
}

/// Whether Citus runs here, the key tables are reference tables and this
/// node is (`coordinator`) or is not the coordinator.
fn keys_distributed_and(client: &SpiClient<'_>, coordinator: bool) -> Result<bool, PseudoError> {
    if !citus_here() {
        return Ok(false);
    }
    Ok(client
        .select(
            "SELECT pg_catalog.citus_is_coordinator() OPERATOR(pg_catalog.=) $1
                AND EXISTS (SELECT FROM pg_catalog.pg_dist_partition
                            WHERE logicalrelid OPERATOR(pg_catalog.=) 'pseudo_keys.subject_key'::pg_catalog.regclass)",
            None,
            &[coordinator.into()],
        )?
        .first()
        .get_one::<bool>()?
        .unwrap_or(false))
}

/// Whether keys are created through the coordinator: Citus runs here, this
/// node is not its coordinator and the key tables are reference tables.
pub fn creates_keys_on_coordinator(client: &SpiClient<'_>) -> Result<bool, PseudoError> {
    keys_distributed_and(client, false)
}

/// On the coordinator of a Citus cluster with distributed keys: refuses a
/// root key rotation to the key with this fingerprint unless every worker's
/// root key source holds it (else every worker would stop decrypting the
/// moment the rotation commits).
pub fn require_root_key_on_workers(client: &SpiClient<'_>, fingerprint: &[u8]) -> Result<(), PseudoError> {
    if !keys_distributed_and(client, true)? {
        return Ok(());
    }
    let command = format!("SELECT pseudo_keys.holds_root_key('\\x{}'::pg_catalog.bytea)", hex::encode(fingerprint));
    let mut missing = Vec::new();
    for row in client.select(
        "SELECT w.nodename || ':' || w.nodeport, w.success AND w.result OPERATOR(pg_catalog.=) 't'
         FROM pg_catalog.run_command_on_workers($1) w ORDER BY 1",
        None,
        &[command.as_str().into()],
    )? {
        if !row.get::<bool>(2)?.unwrap_or(false) {
            missing.push(row.get::<String>(1)?.unwrap_or_default());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(PseudoError::KeyAdmin {
        message: format!(
            "the new root key is not in the root key source of worker {} (or it could not be asked)",
            missing.join(", ")
        ),
        hint: "The new key is the last line of the coordinator's root key file: add it to every worker's file \
               (or to its root_key_command's output), then call pseudo_rotate_root_key() again.",
    })
}

/// What the coordinator answers a worker: the subject's current key,
/// created if needed, wrapped; or that the subject was shredded.
pub enum Answer {
    Key { id: KeyId, epoch: i32, wrapped: Vec<u8> },
    Shredded,
}

impl Answer {
    /// The answer as text: `key <32 hex> <epoch> <hex>` or `shredded`.
    pub fn encode(&self) -> String {
        match self {
            Answer::Shredded => "shredded".into(),
            Answer::Key { id, epoch, wrapped } => format!("key {} {epoch} {}", hex::encode(id), hex::encode(wrapped)),
        }
    }

    fn decode(text: &str) -> Option<Answer> {
        let mut parts = text.split(' ');
        match parts.next()? {
            "shredded" => Some(Answer::Shredded),
            "key" => {
                let id = hex::decode(parts.next()?).ok()?.try_into().ok()?;
                let epoch = parts.next()?.parse().ok()?;
                let wrapped = hex::decode(parts.next()?).ok()?;
                Some(Answer::Key { id, epoch, wrapped })
            }
            _ => None,
        }
    }
}

/// On the coordinator: makes the workers' key requests wait for each other.
/// Each writes the reference tables on every node; concurrent ones (the
/// shard tasks of one statement ask at once) deadlock on Citus's locks of
/// those tables otherwise. Held until the request's transaction commits.
///
/// Waits are bounded: a request can wait for the very transaction whose
/// shard task made it (one that created the subject's key on the coordinator
/// and not yet committed), which no deadlock detector sees through the
/// connection in between; it fails after [`REQUEST_LOCK_TIMEOUT`] instead.
pub fn one_worker_request_at_a_time() -> Result<(), PseudoError> {
    /// "pseudoke", an arbitrary advisory lock key.
    const LOCK_KEY: i64 = 0x7073_6575_646f_6b65;
    pgrx::Spi::connect_mut(|client| {
        client.update(
            "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
            None,
            &[REQUEST_LOCK_TIMEOUT.into()],
        )?;
        client.update("SELECT pg_catalog.pg_advisory_xact_lock($1)", None, &[LOCK_KEY.into()])?;
        Ok(())
    })
}

/// How long a worker's key request waits for a lock on the coordinator.
const REQUEST_LOCK_TIMEOUT: &str = "10s";

/// Asks the coordinator for the current key of the subject with this digest
/// (creating it there); the caller unwraps it with this node's keyring.
pub fn current_key_from_coordinator(client: &mut SpiClient<'_>, digest: &[u8]) -> Result<Answer, PseudoError> {
    // Citus runs a command string on another node; it takes no parameters.
    // The only variable part is the digest, as hex digits this code wrote.
    let command = format!("SELECT pseudo_keys.coordinator_current_key('\\x{}'::pg_catalog.bytea)", hex::encode(digest));
    let table = client.select(
        "SELECT success, result FROM pg_catalog.run_command_on_coordinator($1)",
        None,
        &[command.as_str().into()],
    )?;
    let (success, result) = match table.is_empty() {
        true => (None, None),
        false => table.first().get_two::<bool, String>()?,
    };
    let Some(success) = success else {
        return Err(PseudoError::CoordinatorKey { why: "no answer".into(), unreachable: true });
    };
    let result = result.unwrap_or_default();
    if !success {
        // Citus reports a failed connection as its libpq message.
        let unreachable = result.contains("connection") || result.contains("could not");
        return Err(PseudoError::CoordinatorKey { why: result, unreachable });
    }
    Answer::decode(&result)
        .ok_or_else(|| PseudoError::CoordinatorKey { why: "malformed answer".into(), unreachable: false })
}
