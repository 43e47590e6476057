"""What an IHE MHD exchange keeps beside the documents: submission sets, senders' unique ids, document context."""
