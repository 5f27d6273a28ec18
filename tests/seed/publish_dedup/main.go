package main

import (
	"github.com/nats-io/nats.go"
	"log"
)

func main() {
	nc, _ := nats.Connect("localhost:4222")
	defer nc.Close()
	js, _ := nc.JetStream()
	header := nats.Header{}
	header.Add("Nats-Msg-Id", "1")
	msg := nats.Msg{
		Subject: "qtest.cj",
		Header:  header,
		Data:    []byte("hello11"),
	}
	_, err := js.PublishMsg(&msg)
	if err != nil {
		log.Println(err)
		return
	}
	log.Println("发送成功")
}
