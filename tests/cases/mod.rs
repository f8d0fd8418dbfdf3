mod assemble;
mod continuity;
mod crash;
mod plan;
mod plan_errors;
mod providers;
mod render;
mod sandbox;
