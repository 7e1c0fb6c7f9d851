//! A machine running on either driver, behind one interface for the subcommands.

use std::net::UdpSocket;

use clap::ValueEnum;
use drivers::{DriverConfig, Stopped, std_thread, tokio as tokio_driver};
use sansio_core::{Instant, Machine};

use crate::Failure;

/// Which run loop drives the machine.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Runtime {
    /// One OS thread (mio readiness).
    Std,
    /// A tokio task (one worker thread runs it while the main thread reports).
    Tokio,
}

/// A machine on a run loop.
pub(crate) enum Running<M: Machine> {
    /// On its own thread.
    Std(std_thread::Handle<M>),
    /// On a tokio runtime this value owns.
    Tokio(tokio_driver::Handle<M>, tokio::runtime::Runtime),
}

impl<M> Running<M>
where
    M: Machine + Send + 'static,
    M::Event: Send + 'static,
{
    /// Starts `machine` on `sockets`; its events go to `sink`.
    pub(crate) fn start(
        machine: M,
        sockets: Vec<UdpSocket>,
        runtime: Runtime,
        sink: impl FnMut(M::Event) + Send + 'static,
    ) -> Result<Self, Failure> {
        let io = |e: std::io::Error| Failure::from(e.to_string());
        Ok(match runtime {
            Runtime::Std => Self::Std(std_thread::spawn(machine, sockets, DriverConfig::default(), sink).map_err(io)?),
            Runtime::Tokio => {
                let rt =
                    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(io)?;
                let handle = {
                    let _inside = rt.enter();
                    tokio_driver::spawn(machine, sockets, DriverConfig::default(), sink).map_err(io)?
                };
                Self::Tokio(handle, rt)
            }
        })
    }

    /// Runs `f` on the loop's thread with the current time.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut M, Instant) -> R + Send + 'static,
    ) -> Result<R, Failure> {
        let r = match self {
            Self::Std(h) => h.call(f),
            Self::Tokio(h, _) => h.blocking_call(f),
        };
        r.map_err(|e| Failure::from(e.to_string()))
    }

    /// Stops the loop and returns the machine.
    pub(crate) fn stop(self) -> Result<Stopped<M>, Failure> {
        let r = match self {
            Self::Std(h) => h.shutdown(),
            Self::Tokio(h, rt) => rt.block_on(h.shutdown()),
        };
        r.map_err(|e| Failure::from(e.to_string()))
    }
}
