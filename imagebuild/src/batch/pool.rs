//! The pool body, for either API.
//!
//! Management plane (`Pool`): `identity` (`UserAssigned`, the identity's
//! resource id as the key) beside `properties`, where the settings sit
//! under `deploymentConfiguration.virtualMachineConfiguration` and
//! `scaleSettings`, and enum values are PascalCase (`DockerCompatible`,
//! `Spread`, `NonAdmin`). Data plane (`PoolAddParameter`): the settings at
//! the top, camelCase enums, and no identity at all.
//!
//! Neither carries `--gpus`: on GPU sizes Batch starts container tasks with
//! the node's GPUs itself, and its documentation says not to pass them.

use serde_json::{json, Value};

use super::{NodeImage, Plane, Scale, ARM_API_VERSION};

/// What the pool is.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolOptions {
    pub id: String,
    pub vm_size: String,
    pub node_agent_sku: String,
    pub image: NodeImage,
    /// The user-assigned managed identity (resource id) the nodes pull
    /// images and move files with (management plane only).
    pub identity: Option<String>,
    pub task_slots: u32,
    pub scale: Scale,
}

/// Enum spellings differ between the planes (`DockerCompatible` and
/// `dockerCompatible`, `NonAdmin` and `nonadmin`): each as its definitions
/// write it.
fn spell(plane: Plane, management: &'static str, data: &'static str) -> &'static str {
    match plane {
        Plane::Management => management,
        Plane::Data => data,
    }
}

fn vm_configuration(o: &PoolOptions, plane: Plane) -> Value {
    let agent_key = match plane {
        Plane::Management => "nodeAgentSkuId",
        Plane::Data => "nodeAgentSKUId",
    };
    let mut vm = match &o.image {
        NodeImage::Container {
            node,
            image,
            registry,
        } => {
            let mut c = json!({
                "type": spell(plane, "DockerCompatible", "dockerCompatible"),
                "containerImageNames": [image],
            });
            if let Some(identity) = &o.identity {
                c["containerRegistries"] = json!([{
                    "registryServer": registry,
                    "identityReference": {"resourceId": identity},
                }]);
            }
            json!({
                "imageReference": {"publisher": node.publisher, "offer": node.offer, "sku": node.sku, "version": node.version},
                "containerConfiguration": c,
            })
        }
        NodeImage::Custom { gallery_image_id } => {
            let key = match plane {
                Plane::Management => "id",
                Plane::Data => "virtualMachineImageId",
            };
            json!({"imageReference": {key: gallery_image_id}})
        }
    };
    vm[agent_key] = json!(o.node_agent_sku);
    vm
}

fn start_task(o: &PoolOptions, plane: Plane) -> Value {
    let command = match o.image {
        // Container pools prefetch the image; the probe runs in the first task.
        NodeImage::Container { .. } => "/bin/sh -c 'nvidia-smi || true'",
        NodeImage::Custom { .. } => "/bin/sh -c 'riskpool probe'",
    };
    json!({
        "commandLine": command,
        "userIdentity": {"autoUser": {"scope": spell(plane, "Pool", "pool"), "elevationLevel": spell(plane, "NonAdmin", "nonadmin")}},
        "maxTaskRetryCount": 1,
        "waitForSuccess": false,
    })
}

/// The management plane's `Pool` body: `identity` and `properties`.
pub fn pool_management(o: &PoolOptions) -> Value {
    let plane = Plane::Management;
    let scale = match &o.scale {
        Scale::Fixed { dedicated, spot } => json!({"fixedScale": {
            "targetDedicatedNodes": dedicated, "targetLowPriorityNodes": spot}}),
        Scale::Auto { formula, interval } => json!({"autoScale": {
            "formula": formula, "evaluationInterval": interval}}),
    };
    let mut body = json!({
        "properties": {
            "vmSize": o.vm_size,
            "deploymentConfiguration": {"virtualMachineConfiguration": vm_configuration(o, plane)},
            "scaleSettings": scale,
            "taskSlotsPerNode": o.task_slots,
            "taskSchedulingPolicy": {"nodeFillType": "Spread"},
            "targetNodeCommunicationMode": "Simplified",
            // Prints what each node really has (GPUs, size, engine) to the start task's log.
            "startTask": start_task(o, plane),
        },
    });
    if let Some(identity) = &o.identity {
        body["identity"] =
            json!({"type": "UserAssigned", "userAssignedIdentities": {identity.as_str(): {}}});
    }
    body
}

/// The data plane's Pool_Add body (no identity: [`rules`](super::rules)
/// refuses a data-plane pool with one).
pub fn pool_data(o: &PoolOptions) -> Value {
    let plane = Plane::Data;
    let mut p = json!({
        "id": o.id,
        "vmSize": o.vm_size,
        "virtualMachineConfiguration": vm_configuration(o, plane),
        "taskSlotsPerNode": o.task_slots,
        "taskSchedulingPolicy": {"nodeFillType": "spread"},
        "targetNodeCommunicationMode": "simplified",
        "startTask": start_task(o, plane),
    });
    match &o.scale {
        Scale::Fixed { dedicated, spot } => {
            p["targetDedicatedNodes"] = json!(dedicated);
            p["targetLowPriorityNodes"] = json!(spot);
        }
        Scale::Auto { formula, interval } => {
            p["enableAutoScale"] = json!(true);
            p["autoScaleFormula"] = json!(formula);
            p["autoScaleEvaluationInterval"] = json!(interval);
        }
    }
    p
}

/// The pool's Azure Resource Manager URL (what `az rest --method put` takes),
/// on `endpoint` (`https://management.azure.com` in Azure's public cloud).
pub fn pool_url(
    endpoint: &str,
    subscription: &str,
    resource_group: &str,
    account: &str,
    pool: &str,
) -> String {
    format!(
        "{}/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Batch/batchAccounts/{account}/pools/{pool}?api-version={ARM_API_VERSION}",
        endpoint.trim_end_matches('/')
    )
}

/// An ARM template with the pool as a `Microsoft.Batch/batchAccounts/pools`
/// resource, for deployments kept as code (`az deployment group create
/// --template-file`); the account name is a template parameter.
pub fn arm_template(o: &PoolOptions) -> Value {
    let body = pool_management(o);
    let mut resource = json!({
        "type": "Microsoft.Batch/batchAccounts/pools",
        "apiVersion": ARM_API_VERSION,
        "name": format!("[format('{{0}}/{{1}}', parameters('batchAccountName'), '{}')]", o.id),
        "properties": body["properties"],
    });
    if body.get("identity").is_some() {
        resource["identity"] = body["identity"].clone();
    }
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"batchAccountName": {"type": "string"}},
        "resources": [resource],
    })
}
