//! What the providers charge and take: the catalog of endpoints, money and list prices, live prices.

pub(crate) mod catalog;
pub(crate) mod cost;
pub(crate) mod data;
pub(crate) mod prices;
pub(crate) mod schemas;
