//! The `wasi:keyvalue` host traits for a call's [`CapabilityView`]: each
//! operation checks the grant and the call's limits, goes to the backend,
//! counts its metrics, and answers the guest the interface's `error` for
//! anything that went wrong.

use bus::KeySpace;
use protocol::Capability;
use wasmtime::component::Resource;

use super::bindings::wasi::keyvalue::{atomics, batch, store};
use super::{Op, OpenStore, guest_error, other};
use crate::capabilities::CapabilityView;

use store::Error;

impl store::Host for CapabilityView<'_> {
    async fn open(&mut self, identifier: String) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        let opened = (|| {
            self.begin_kv(Op::Open)?;
            let bucket = match &self.call.identity {
                Some(identity) => identity.function.bucket.clone(),
                None => return Err(other("wasi:keyvalue is not available in this runtime")),
            };
            let space = KeySpace::new(&bucket, &identifier).map_err(guest_error)?;
            let name =
                if identifier.is_empty() { bus::keyvalue::DEFAULT_STORE.to_owned() } else { identifier };
            Ok(OpenStore { space, name })
        })();
        match self.finish(Op::Open, opened) {
            Ok(store) => Ok(Ok(self.table.push(store)?)),
            Err(err) => Ok(Err(err)),
        }
    }
}

impl store::HostBucket for CapabilityView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = self.get_value(&bucket, &key).await;
        Ok(self.finish(Op::Get, outcome))
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = self.set_value(&bucket, &key, value).await;
        Ok(self.finish(Op::Set, outcome))
    }

    async fn delete(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::Delete)?;
            self.touch(&hosts, &bucket, [key.as_str()])?;
            hosts.keyvalue.data.delete(&bucket.space, &key).await.map_err(guest_error)
        }
        .await;
        Ok(self.finish(Op::Delete, outcome))
    }

    async fn exists(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::Exists)?;
            self.touch(&hosts, &bucket, [key.as_str()])?;
            let value = hosts.keyvalue.data.get(&bucket.space, &key).await.map_err(guest_error)?;
            Ok(value.is_some())
        }
        .await;
        Ok(self.finish(Op::Exists, outcome))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<OpenStore>,
        cursor: Option<u64>,
    ) -> wasmtime::Result<Result<store::KeyResponse, Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::ListKeys)?;
            let page = hosts.keyvalue.data.list(&bucket.space, cursor).await.map_err(guest_error)?;
            Ok(store::KeyResponse { keys: page.keys, cursor: page.cursor })
        }
        .await;
        Ok(self.finish(Op::ListKeys, outcome))
    }

    async fn drop(&mut self, bucket: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for CapabilityView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::Increment)?;
            self.touch(&hosts, &bucket, [key.as_str()])?;
            hosts.keyvalue.data.increment(&bucket.space, &key, delta).await.map_err(guest_error)
        }
        .await;
        Ok(self.finish(Op::Increment, outcome))
    }
}

impl batch::Host for CapabilityView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::GetMany)?;
            self.touch(&hosts, &bucket, keys.iter().map(String::as_str))?;
            let data = &hosts.keyvalue.data;
            let values = futures::future::try_join_all(keys.iter().map(|key| data.get(&bucket.space, key)))
                .await
                .map_err(guest_error)?;
            let read: usize = values.iter().flatten().map(|value| value.len()).sum();
            hosts.metrics.bytes(Capability::KeyValue, "read", read as u64);
            Ok(keys
                .into_iter()
                .zip(values)
                .map(|(key, value)| value.map(|value| (key, value.to_vec())))
                .collect())
        }
        .await;
        Ok(self.finish(Op::GetMany, outcome))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::SetMany)?;
            for (key, value) in &key_values {
                Self::check_value(&hosts, key, value)?;
            }
            self.touch(&hosts, &bucket, key_values.iter().map(|(key, _)| key.as_str()))?;
            let (data, space) = (&hosts.keyvalue.data, &bucket.space);
            let written: usize = key_values.iter().map(|(_, value)| value.len()).sum();
            futures::future::try_join_all(
                key_values
                    .into_iter()
                    .map(|(key, value)| async move { data.put(space, &key, value.into()).await }),
            )
            .await
            .map_err(guest_error)?;
            hosts.metrics.bytes(Capability::KeyValue, "written", written as u64);
            Ok(())
        }
        .await;
        Ok(self.finish(Op::SetMany, outcome))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let bucket = self.store(&bucket)?;
        let outcome = async {
            let hosts = self.begin_kv(Op::DeleteMany)?;
            self.touch(&hosts, &bucket, keys.iter().map(String::as_str))?;
            let data = &hosts.keyvalue.data;
            futures::future::try_join_all(keys.iter().map(|key| data.delete(&bucket.space, key)))
                .await
                .map_err(guest_error)?;
            Ok(())
        }
        .await;
        Ok(self.finish(Op::DeleteMany, outcome))
    }
}
