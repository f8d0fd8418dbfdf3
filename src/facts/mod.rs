//! What the providers charge and take: the catalog of endpoints, money and list prices, live prices.

pub mod catalog;
pub mod cost;
pub mod prices;
