//! The engine's task: runs an engine until its input lanes close.

use super::{AckOutcome, Engine, Readings};
use crate::alerts::input::EngineLanes;
use tokio::sync::{mpsc, oneshot};

/// A request from the API.
pub enum Command {
    Ack {
        id: i64,
        reply: oneshot::Sender<AckOutcome>,
    },
}

pub async fn run(
    mut engine: Engine,
    mut lanes: EngineLanes,
    mut readings: mpsc::Receiver<Readings>,
    mut commands: mpsc::Receiver<Command>,
) -> Engine {
    loop {
        let deadline = engine.next_deadline();
        let wake = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(engine.clock.instant_at(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            t = lanes.transitions.recv() => match t {
                Some(t) => engine.on_transition(t),
                None => break,
            },
            r = lanes.results.recv() => match r {
                Some(r) => engine.on_result(&r),
                None => break,
            },
            Some(r) = readings.recv() => engine.on_readings(r),
            Some(cmd) = commands.recv() => match cmd {
                Command::Ack { id, reply } => {
                    let _ = reply.send(engine.acknowledge(id));
                }
            },
            () = wake => engine.tick(),
        }
    }
    // What arrived before the lanes closed still counts.
    while let Ok(t) = lanes.transitions.try_recv() {
        engine.on_transition(t);
    }
    engine.flush_now();
    engine
}
