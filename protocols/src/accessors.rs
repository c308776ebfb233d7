//! The accessors the receivers and their controls share, written once as
//! macros that expand inside each type's `impl` block.

/// A receiver's `handler`, `handler_mut`, `into_handler` and `transport`,
/// given the paths (from `self`) of its handler and its `Flow`.
macro_rules! receiver_accessors {
    (handler: $($handler:ident).+, flow: $($flow:ident).+) => {
        /// The handler.
        pub fn handler(&self) -> &H {
            &self.$($handler).+
        }

        /// The handler, mutably.
        pub fn handler_mut(&mut self) -> &mut H {
            &mut self.$($handler).+
        }

        /// Gives the handler back.
        pub fn into_handler(self) -> H {
            self.$($handler).+
        }

        /// The transport, once connected (until the connection is lost).
        pub fn transport(&self) -> Option<TransportRef> {
            self.$($flow).+.transport()
        }
    };
}

/// A line receiver's `with_delimiter` and `with_max_length` (its `config`
/// is a `LineConfig`; `scanned` is how far the buffer was searched for the
/// delimiter).
macro_rules! line_config_builders {
    () => {
        /// Uses `delimiter` to end lines (Twisted's `delimiter`).
        ///
        /// # Errors
        ///
        /// [`EmptyDelimiter`] if it is empty.
        pub fn with_delimiter(
            mut self,
            delimiter: impl Into<Vec<u8>>,
        ) -> Result<Self, EmptyDelimiter> {
            let delimiter = delimiter.into();
            if delimiter.is_empty() {
                return Err(EmptyDelimiter);
            }
            self.config.delimiter = delimiter;
            self.scanned = 0;
            Ok(self)
        }

        /// Sets the longest line delivered (Twisted's `MAX_LENGTH`).
        pub fn with_max_length(mut self, max_length: usize) -> Self {
            self.config.max_length = max_length;
            self
        }
    };
}

/// A control's `transport` and `lose_connection` (through its `flow`);
/// `$after` tells what happens to the rest of the chunk.
macro_rules! connection_controls {
    ($after:literal) => {
        /// The transport, once connected.
        pub fn transport(&self) -> Option<TransportRef> {
            self.flow.transport()
        }

        #[doc = concat!("Loses the connection", $after, ".")]
        pub fn lose_connection(&self) {
            self.flow.lose_connection();
        }
    };
}

/// A line control's `send_line`, `delimiter` and `max_length` (through its
/// `flow` and its `LineConfig`).
macro_rules! line_controls {
    () => {
        /// Writes `line` and the delimiter with one `write_sequence`
        /// (Twisted's `sendLine`).
        pub fn send_line(&self, line: &[u8]) {
            self.flow.write(&[line, &self.config.delimiter]);
        }

        /// The line delimiter.
        pub fn delimiter(&self) -> &[u8] {
            &self.config.delimiter
        }

        /// The longest line delivered.
        pub fn max_length(&self) -> usize {
            self.config.max_length
        }
    };
}

/// A control's `pause_producing`, `resume_producing`, `stop_producing` and
/// `is_paused` (through its `flow`); `$what` names what it delivers.
macro_rules! flow_controls {
    ($what:literal) => {
        #[doc = concat!(
                            "Stops delivering ", $what, " and pauses the transport (Twisted's\n",
                            "`pauseProducing`); buffered ", $what, " wait for a resume."
                        )]
        pub fn pause_producing(&self) {
            self.flow.pause();
        }

        /// Resumes the transport and delivery (Twisted's `resumeProducing`).
        pub fn resume_producing(&self) {
            self.flow.resume();
        }

        /// Stops delivering for good and stops the transport (Twisted's
        /// `stopProducing`).
        pub fn stop_producing(&self) {
            self.flow.stop();
        }

        /// Whether delivery is paused.
        pub fn is_paused(&self) -> bool {
            self.flow.is_paused()
        }
    };
}

/// A receiver's `is_paused`, `pause_producing` and `stop_producing`, given
/// the path (from `self`) of its `Flow` (`resume_producing` also delivers
/// what was buffered, so each receiver writes its own).
macro_rules! receiver_flow_controls {
    (flow: $($flow:ident).+) => {
        /// Whether delivery is paused (Twisted's `paused`).
        pub fn is_paused(&self) -> bool {
            self.$($flow).+.is_paused()
        }

        /// Stops delivering and pauses the transport (Twisted's `pauseProducing`).
        pub fn pause_producing(&mut self) {
            self.$($flow).+.pause();
        }

        /// Stops delivering for good and stops the transport (Twisted's
        /// `stopProducing`).
        pub fn stop_producing(&mut self) {
            self.$($flow).+.stop();
        }
    };
}
