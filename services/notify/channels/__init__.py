"""Getting messages out: the couriers, the delivery attempts and the senders for each channel."""
