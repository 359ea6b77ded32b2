// Kafka record headers as the client takes them: a list of one-entry objects, in order.
export type Headers = Array<Record<string, string>>;
