//! The bridge to Celery: the wire format ([`protocol`]), the commands the pool sends
//! ([`Broker`], implemented by [`RedisBroker`] for a Redis broker and by [`amqp::AmqpBroker`]
//! for RabbitMQ), the pub/sub listener ([`listener`]) and, over RabbitMQ, the worker-event
//! consumer ([`amqp::run_events`]).

pub mod amqp;
pub mod broker;
pub mod listener;
pub mod protocol;
pub mod redis_broker;

pub use broker::{Broker, BrokerError, BrokerFacts};
pub use redis_broker::RedisBroker;
